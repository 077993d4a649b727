"""The forward-only rule of outbound statuses: its one home, for every provider.

Providers report statuses out of order and more than once (Meta: spec A4.6, A6;
Twilio: B, "apply the same monotonic rule"). The Twilio parser maps its statuses onto
Meta's names first (queued/accepted/sending/sent → ``sent``, undelivered → ``failed``),
so one rule serves both. The status model applies it one status at a time
(:func:`status_moves_forward`) and in batches (its SQL reads :func:`rank_rows`).

* ``sent`` < ``delivered`` < ``read`` = ``played``: a jump (``sent`` → ``read``) is
  allowed, a regression or a repeat is not. ``played`` (a voice note) is ``read``.
* ``failed`` is terminal, and it applies only to a message not yet delivered.
  Decided once, here: **a delivered (or read) message never becomes failed.** The
  message reached the phone; Meta documents failures after ``sent`` (131026, 131049),
  not after ``delivered``, and Twilio calls ``delivered`` terminal. A ``failed`` after
  ``delivered`` can only be a reordered or spurious report, and applying it would
  also re-send the template (window closed fallback) to someone who has the message.
* ``cancelled`` (never sent) is terminal too. An unknown ``new`` status (``deleted``,
  ``warning``, a provider value we do not know) never moves anything; an unknown or
  empty ``current`` (the queue's ``queued``) ranks below ``sent``.

Each status's date (``DATE_FIELDS``) is set once, by the first report of it, and the
dates keep the statuses' order: **no date is later than the date of a higher status**
(:func:`dates_in_order`, and :func:`sql_dates_in_order` for the batch's SQL). A status
proves that the lower ones happened by its date, so a lower date that would be later
takes the higher one's: a ``delivered`` reported after the ``read`` (Twilio's callbacks
carry no time: each is dated when it arrives) is dated at the read, and our send's own
record of ``sent`` is moved back to a ``delivered`` whose time (Meta's clock) is
earlier. The order of arrival decides nothing.
"""

from __future__ import annotations

__all__ = [
    "DATE_FIELDS",
    "FAILED",
    "LEFT_STATES",
    "RATE_STATES",
    "REACHED_STATES",
    "REAL_OUTBOUND_DOMAIN",
    "REAL_OUTBOUND_SQL",
    "STATUS_RANK",
    "TERMINAL_STATES",
    "dates_in_order",
    "message_state",
    "rank_rows",
    "sql_dates_in_order",
    "sql_in",
    "status_moves_forward",
]

#: Rank of each provider status that moves a message forward.
STATUS_RANK = {"sent": 1, "delivered": 2, "read": 3, "played": 3}
FAILED = "failed"
#: Message states nothing moves any more.
TERMINAL_STATES = frozenset({FAILED, "cancelled"})
#: A message the provider accepted: it left Odoo (test mode records its sends as sent).
LEFT_STATES = ("sent", "delivered", "read")
#: A message that reached the phone.
REACHED_STATES = ("delivered", "read")
#: What the delivery rate counts: the messages the provider accepted or refused; of
#: them, REACHED_STATES reached the phone.
RATE_STATES = (*LEFT_STATES, FAILED)
#: The messages the figures' rates and times count: real outbound ones. A test-mode
#: message (``is_test``) never reached anyone, whatever state test mode gave it. As SQL
#: (generated columns, the hourly counters' trigger) and as an ORM domain.
REAL_OUTBOUND_SQL = "direction = 'outbound' AND is_test IS NOT TRUE"
REAL_OUTBOUND_DOMAIN = (("direction", "=", "outbound"), ("is_test", "=", False))
_STATE_OF = {"played": "read"}
#: The message field each state's date goes in, lowest status first.
DATE_FIELDS = {"sent": "sent_date", "delivered": "delivered_date", "read": "read_date"}


def _name(value):
    return value.strip().lower() if isinstance(value, str) else ""


def message_state(status):
    """The message state a provider ``status`` stands for (``played`` → ``read``),
    ``'failed'``, or None for a status that moves nothing."""
    status = _name(status)
    if status == FAILED:
        return FAILED
    if status in STATUS_RANK:
        return _STATE_OF.get(status, status)
    return None


def status_moves_forward(current, new):
    """True when a message in state ``current`` takes status ``new`` (see the module)."""
    current, new = _name(current), _name(new)
    if current in TERMINAL_STATES:
        return False
    current_rank = STATUS_RANK.get(current, 0)
    if new == FAILED:
        return current_rank < STATUS_RANK["delivered"]
    new_rank = STATUS_RANK.get(new)
    if new_rank is None:
        return False
    return new_rank > current_rank


def rank_rows():
    """``[(status, rank, message state)]`` of the statuses that move a message forward,
    for set-based SQL that must follow the same rule."""
    return [(status, rank, message_state(status)) for status, rank in STATUS_RANK.items()]


def sql_in(column, states):
    """``column IN ('a', 'b')``: SQL text for one of the state sets above (constants,
    never input; a value that is not a plain lowercase word is refused)."""
    if not states or not all(state.isalpha() and state.islower() for state in states):
        raise ValueError(f"not a state set: {states!r}")
    return f"{column} IN ({', '.join(repr(state) for state in states)})"


def dates_in_order(dates):
    """``dates`` (``{date field: datetime or None}``, DATE_FIELDS' fields) with each
    date no later than those of the higher statuses (see the module); an empty date
    stays empty."""
    ordered = dict(dates)
    bound = None
    for field in reversed(DATE_FIELDS.values()):
        value = ordered.get(field)
        if value:
            value = min(value, bound) if bound else value
            ordered[field] = bound = value
    return ordered


def sql_dates_in_order(values):
    """The SQL of :func:`dates_in_order`: ``{date field: expression}`` from ``values``
    (``{date field: SQL expression of its value}``, constants of the caller, never
    input). ``LEAST`` ignores NULLs: an empty higher date bounds nothing."""
    ordered, higher = {}, []
    for field in reversed(DATE_FIELDS.values()):
        own = values[field]
        ordered[field] = (
            f"CASE WHEN {own} IS NOT NULL THEN LEAST({own}, {', '.join(higher)}) END"
            if higher
            else own
        )
        higher.append(own)
    return {field: ordered[field] for field in DATE_FIELDS.values()}
