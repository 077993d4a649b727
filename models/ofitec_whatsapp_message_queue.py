"""The outbound queue: claim in batches, send through the provider, record the outcome."""

import json
import logging
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import psycopg2

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..tools import commands, phone, provider, ratelimit
from ..tools.errors import (
    AuthError,
    PermanentError,
    RateLimitedError,
    RetryableError,
    UncertainDeliveryError,
    WhatsAppError,
    WindowClosedError,
)
from ..tools.provider import SendResult
from .ofitec_whatsapp_message_hold import TemplateNotApproved

_logger = logging.getLogger(__name__)

# Reply buttons offered inside the 24-hour window, in this order.
REPLY_BUTTONS = [
    (commands.CMD_OK, "OK"),
    (commands.CMD_COMPLETED, "COMPLETADO"),
    (commands.CMD_CANCEL, "CANCELAR"),
]

BACKOFF_BASE = 2.0  # seconds
BACKOFF_CAP = 900.0  # 15 minutes
UNCERTAIN_MIN_DELAY = 60.0  # leave time for a status webhook to reconcile a lost answer
QUEUE_TIME_BUDGET = 120.0  # seconds per cron run before it hands over to a new run
SEND_BATCH = 20  # messages claimed, sent and committed together
SEND_THREADS = 4  # concurrent HTTP calls of a batch

# What _guarded returns when the guarded method failed.
_BROKEN = object()

# Token buckets per (database, config id), kept across cron runs of this process.
_BUCKETS = {}
_BUCKETS_LOCK = threading.Lock()


def _get_bucket(dbname, config):
    key = (dbname, config.id)
    with _BUCKETS_LOCK:
        bucket = _BUCKETS.get(key)
        if bucket is None or bucket.rate != config.rate_limit:
            bucket = _BUCKETS[key] = ratelimit.TokenBucket(config.rate_limit)
        return bucket


@dataclass(frozen=True)
class SendStep:
    """One prepared send: what ``_prepare_send`` hands to a worker thread.

    ``call`` sends the message through ``client`` (a tools.provider.Provider) when
    invoked; it touches no ORM record. ``bucket`` paces the number's sends.
    """

    client: object
    recipient: str
    kind: str
    call: object
    bucket: object


def _call(step):
    """Run one prepared send: wait for the number's rate, then the HTTP call.

    Runs in a worker thread: it touches no ORM record, only the pure client.
    Returns ``(result, None)`` or ``(None, exception)``.
    """
    step.bucket.acquire()
    try:
        return step.call(), None
    except Exception as error:  # recorded by _finish_send in the cron's thread
        return None, error


def _backoff_delay(attempt, error):
    """Seconds to wait before attempt ``attempt + 1`` (``attempt`` starts at 1).

    Exponential with jitter (2, 4, 8 … s, capped), 4^n (1, 4, 16 … s) for Meta's pair
    rate limit (131056), and at least a minute after a read timeout.
    """
    pair_limited = isinstance(error, RateLimitedError) and error.pair_limited
    delay = ratelimit.backoff_delay(
        attempt,
        base=BACKOFF_BASE,
        cap=BACKOFF_CAP,
        jitter=0.0 if pair_limited else 0.25,  # workers do not retry in lockstep
        pair_limited=pair_limited,
        rand=random.random,
    )
    if isinstance(error, UncertainDeliveryError):
        delay = max(delay, UNCERTAIN_MIN_DELAY)
    return delay


class OfitecWhatsappMessageQueue(models.Model):
    _inherit = "ofitec.whatsapp.message"

    # ------------------------------------------------------------------
    # Queue
    # ------------------------------------------------------------------
    @api.model
    def _trigger_queue(self, at=None):
        cron = self.env.ref("ofitec_whatsapp.ir_cron_whatsapp_send_queue", raise_if_not_found=False)
        if cron:
            cron.sudo()._trigger_unless_pending(at)

    @api.model
    def _process_queue(
        self, limit=None, time_budget=QUEUE_TIME_BUDGET, batch_size=None, threads=None
    ):
        """Send due queued messages; called by the cron. Returns the number handled.

        Messages are claimed in small batches with ``FOR UPDATE SKIP LOCKED``; their
        row locks are held until the commit that follows the batch, so two workers (or
        two servers) never send the same message. The HTTP calls of a batch run in a
        few threads (they are pure network calls, no ORM), everything else in this
        transaction. Outside tests we commit after each batch: its messages' states are
        final for this attempt, and nothing later can undo the record of sends Meta
        accepted. A crash *during* a batch rolls its records back; those messages are
        then sent again, unless a status webhook carrying our callback data comes first
        and reconciles them (``_reconcile_callback``). ``batch_size`` and ``threads`` default
        to SEND_BATCH and SEND_THREADS (1 and 1 in tests, which may ask for more).
        """
        auto_commit = not getattr(threading.current_thread(), "testing", False)
        workers = threads or (SEND_THREADS if auto_commit else 1)
        batch_size = batch_size or (SEND_BATCH if auto_commit else 1)
        started = time.monotonic()
        clients = {}
        handled = 0
        broken = set()  # messages whose outcome could not be recorded: not again this run
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="whatsapp-send") as pool:
            while limit is None or handled < limit:
                if time_budget is not None and time.monotonic() - started > time_budget:
                    # Hand over to a fresh cron run rather than exceed the worker's limits.
                    self._trigger_queue()
                    break
                size = batch_size
                if limit is not None:
                    size = min(size, limit - handled)
                try:
                    with self.env.cr.savepoint(flush=False):
                        batch = self._claim_batch(size, exclude=broken)
                except psycopg2.extensions.TransactionRollbackError:
                    # REPEATABLE READ: another worker sent (and committed) a message
                    # this transaction still sees as queued. It is not ours to send;
                    # only a new transaction sees the row as it is now.
                    if not auto_commit:
                        break
                    self.env.cr.rollback()
                    continue
                if not batch:
                    break
                calls = []
                for message in batch:
                    step = message._guarded(message._prepare_send, clients)
                    if step is _BROKEN:
                        broken.add(message.id)
                    elif step:
                        calls.append((message, step, pool.submit(_call, step)))
                for message, step, future in calls:
                    if message._guarded(message._finish_send, step, future.result()) is _BROKEN:
                        broken.add(message.id)
                handled += len(batch)
                if auto_commit:
                    self.env.cr.commit()  # pylint: disable=invalid-commit
        return handled

    @api.model
    def _claim_next(self):
        """Lock and return the next due queued message, skipping rows others hold."""
        return self._claim_batch(1)

    @api.model
    def _claim_batch(self, size, exclude=()):
        """Lock and return up to ``size`` due queued messages, skipping rows others hold
        and the ids in ``exclude``."""
        # The query reads the table itself: write pending ORM changes first (a run that
        # does not commit, like a test, would otherwise get the same row again).
        self.env.flush_all()
        self.env.cr.execute(
            """
            SELECT id FROM ofitec_whatsapp_message
             WHERE state = 'queued' AND direction = 'outbound'
               AND (next_attempt IS NULL OR next_attempt <= (now() at time zone 'UTC'))
               AND NOT (id = ANY(%s))
               AND NOT EXISTS (SELECT 1 FROM ofitec_whatsapp_config c
                                WHERE c.id = config_id AND c.sending_paused)
             ORDER BY next_attempt NULLS FIRST, id
             LIMIT %s
               FOR UPDATE SKIP LOCKED
            """,
            (list(exclude), size),
            log_exceptions=False,  # a serialization failure is expected, see _process_queue
        )
        messages = self.browse([row[0] for row in self.env.cr.fetchall()])
        # The rows may have been changed by the transactions that released them.
        messages.invalidate_recordset()
        return messages

    def _guarded(self, method, *args):
        """Run ``method`` in a savepoint: an error recording one message must not roll
        back the records of the other sends of its batch (Meta accepted those)."""
        try:
            with self.env.cr.savepoint():
                return method(*args)
        except Exception:
            # The message stays queued: sent again later, unless a status webhook
            # with our callback data reconciles it first.
            _logger.exception("WhatsApp message %s: its outcome could not be recorded", self.id)
            self.invalidate_recordset()
            return _BROKEN

    def _send_one(self, clients):
        """Send this claimed message once; record the outcome on it."""
        self.ensure_one()
        step = self._prepare_send(clients)
        if step:
            self._finish_send(step, _call(step))

    def _prepare_send(self, clients):
        """Everything before the HTTP call (ORM, this thread).

        Returns the SendStep to run, or None when the message was settled without one
        (failed, cancelled, held, retried later, or 'sent' in test mode).
        """
        self.ensure_one()
        # Reasons stored on the message are read by the action's people: their language.
        step = self._in_notes_lang()._prepare_send_checked(clients)
        return step if isinstance(step, SendStep) else None

    def _prepare_send_checked(self, clients):
        self.ensure_one()
        config = self.config_id.sudo()
        if not config or not config.active:
            return self._mark_failed("config", _("No active WhatsApp configuration."))
        contact = self._get_contact()
        if contact.opted_out and not self.force_send:
            return self._mark_cancelled(_("The recipient opted out (STOP/BAJA)."))
        recipient = self.phone or self.bsuid
        if not recipient:
            return self._mark_cancelled(_("No WhatsApp number for this recipient."))
        test_only = config.test_mode and not config._is_allowlisted(self.phone)
        try:
            kind = self._choose_message_type(contact)
        except TemplateNotApproved as waiting:
            return self._hold_for_template(waiting.args[0])
        except PermanentError as error:
            if not test_only:
                return self._mark_failed(error.code, str(error), error.title)
            # Test mode stands in for Meta: a free text outside the window is what a
            # real send would refuse, but nothing is sent here; record it as text.
            kind = "text"
        if test_only:
            self._mark_sent(self._fake_result(), kind, is_test=True)
            return None
        try:
            client = clients.get(config.id)
            if client is None:
                client = clients[config.id] = config._get_client()
            call = self._prepare_call(client, recipient, kind)
        except UserError as error:
            return self._mark_failed("config", str(error))
        except Exception as error:  # a bug must not stop the queue for everybody
            _logger.exception("WhatsApp message %s: unexpected error before sending", self.id)
            return self._schedule_retry(RetryableError(title=type(error).__name__))
        return SendStep(
            client=client,
            recipient=recipient,
            kind=kind,
            call=call,
            bucket=_get_bucket(self.env.cr.dbname, config),
        )

    def _finish_send(self, step, outcome):
        """Record what Meta answered (ORM, this thread)."""
        self.ensure_one()
        result, error = outcome
        if (
            isinstance(error, WindowClosedError)
            and step.kind != "template"
            and self._has_approved_template()
        ):
            # Our window book-keeping was wrong (the provider is authoritative): the
            # window is closed from now on. The message stays queued and its next claim
            # (in this run) sends the approved template: no second HTTP call from here.
            self._get_contact().write({"last_inbound_at": False})
            if self._waits_for_approval():
                return self._hold_for_template(self.template_id)
            self._trigger_queue()
            return False
        if error is None:
            return self._mark_sent(result, step.kind)
        if isinstance(error, AuthError):
            return self._hold_for_token(error)
        if isinstance(error, RetryableError):
            return self._schedule_retry(error)
        if isinstance(error, WhatsAppError):
            return self._mark_failed(error.code, self._describe_error(error), error.title)
        _logger.error(
            "WhatsApp message %s: unexpected error while sending", self.id, exc_info=error
        )
        return self._schedule_retry(RetryableError(title=type(error).__name__))

    def _prepare_call(self, client, recipient, kind):
        """The HTTP call that sends this message, ready to run in any thread."""
        callback = provider.make_callback_data(self.id)
        if kind == "template":
            template = self.template_id
            # Quick-reply payloads name the action; a message about no action (API,
            # replies) sends the template without them.
            payloads = None
            if self.next_action_id:
                payloads = [
                    commands.make_button_payload(self.next_action_id.id, command)
                    for command in template._get_button_commands()
                ]
            return partial(
                client.send_template,
                recipient,
                template._get_template_ref(),
                json.loads(self.template_params or "[]"),
                button_payloads=payloads,
                callback_data=callback,
            )
        if kind == "interactive":
            buttons = [
                (commands.make_button_payload(self.next_action_id.id, command), title)
                for command, title in REPLY_BUTTONS
            ]
            return partial(
                client.send_buttons, recipient, self.body, buttons, callback_data=callback
            )
        return partial(client.send_text, recipient, self.body, callback_data=callback)

    def _choose_message_type(self, contact):
        """Free-form inside the 24-hour window, the approved template outside it."""
        template = self.template_id
        if contact and contact._is_window_open():
            if template.use_buttons and self.next_action_id:
                return "interactive"
            return "text"
        if template and self._has_approved_template():
            if self._waits_for_approval():
                raise TemplateNotApproved(template)
            return "template"
        raise PermanentError(
            code="window",
            title=_(
                "The 24-hour window with this recipient is closed and no approved "
                "template is configured for this message."
            ),
        )

    def _has_approved_template(self):
        """True when this message's template can be sent outside the 24-hour window
        by its number's provider."""
        self.ensure_one()
        template = self.template_id
        return bool(template) and self.config_id._get_provider_class().accepts_template(
            template._get_template_ref()
        )

    def _fake_result(self):
        return SendResult(
            wamid=f"test.{uuid.uuid4().hex}",
            wa_id=self.wa_id or (phone.to_wa_id(self.phone) if self.phone else None),
            input=self.phone,
            user_id=self.bsuid or None,
            message_status=None,
            raw={},
        )

    def _mark_sent(self, result, kind, is_test=False):
        vals = {
            "state": "sent",
            "message_type": kind,
            "whatsapp_message_id": result.wamid,
            "sent_date": fields.Datetime.now(),
            "error_code": False,
            "error_message": False,
            "next_attempt": False,
            "is_test": is_test,
        }
        if result.wa_id:
            vals["wa_id"] = result.wa_id
        if result.user_id:
            vals["bsuid"] = result.user_id
        self.write(vals)
        self.env.flush_all()  # the record of the send itself, outside the savepoint below
        # Meta accepted the message: nothing below may undo that record. Another worker
        # may be updating the same contact (unique key, concurrent update): then the
        # book-keeping is skipped, never the send.
        try:
            with self.env.cr.savepoint():
                self._remember_contact()
                self._after_whatsapp_id_assigned()
        except (psycopg2.IntegrityError, psycopg2.extensions.TransactionRollbackError) as error:
            _logger.warning(
                "WhatsApp message %s was sent; its contact could not be updated now: %s",
                self.id,
                error.pgerror or type(error).__name__,
            )
        self._report_outcome()
        return True

    def _mark_failed(self, code, message, title=None):
        self.write(
            {
                "state": "failed",
                "error_code": str(code) if code not in (None, False) else False,
                # What the failures are grouped by: the provider's title, else ours.
                "error_title": title or message,
                "error_message": message,
                "next_attempt": False,
            }
        )
        self._report_outcome()
        return False

    def _mark_cancelled(self, reason):
        self.write({"state": "cancelled", "error_message": reason, "next_attempt": False})
        self._report_outcome()
        return False

    def _schedule_retry(self, error):
        attempt = self.retry_count + 1
        max_attempts = self.config_id.max_attempts or 1
        code = error.code
        # Meta: code 1 ("API unknown") deserves at most two attempts.
        if attempt >= max_attempts or (code == 1 and attempt >= 2):
            self.retry_count = attempt
            # A network failure has no provider title: its description is the title.
            title = error.title if code is not None else None
            return self._mark_failed(
                code if code is not None else "retry", self._describe_error(error), title
            )
        next_attempt = fields.Datetime.now() + timedelta(seconds=_backoff_delay(attempt, error))
        self.write(
            {
                "retry_count": attempt,
                "next_attempt": next_attempt,
                "error_code": str(code) if code is not None else "network",
                "error_message": self._describe_error(error),
            }
        )
        if isinstance(error, RateLimitedError) and error.pair_limited:
            self._hold_same_recipient(next_attempt)
        self._trigger_queue(at=next_attempt)
        return False

    def _hold_same_recipient(self, until):
        """Other queued messages to this person would hit the same pair limit (131056):
        delay them too. Rows another worker holds are skipped (it is sending them; two
        workers holding each other's rows would deadlock), and this is only an
        optimisation: if it cannot be done now, each message backs off on its own."""
        self.ensure_one()
        if not (self.phone or self.bsuid):
            return
        self.flush_recordset()
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(
                    """
                    UPDATE ofitec_whatsapp_message SET next_attempt = %(until)s
                     WHERE id IN (
                        SELECT id FROM ofitec_whatsapp_message
                         WHERE id != %(id)s AND state = 'queued' AND direction = 'outbound'
                           AND config_id = %(config)s
                           AND (phone = %(phone)s OR (%(phone)s IS NULL AND bsuid = %(bsuid)s))
                           AND (next_attempt IS NULL OR next_attempt < %(until)s)
                           FOR UPDATE SKIP LOCKED)
                    RETURNING id
                    """,
                    {
                        "until": until,
                        "id": self.id,
                        "config": self.config_id.id,
                        "phone": self.phone or None,
                        "bsuid": self.bsuid or None,
                    },
                    log_exceptions=False,
                )
                held = self.browse([row[0] for row in self.env.cr.fetchall()])
        except psycopg2.extensions.TransactionRollbackError:
            return
        held.invalidate_recordset(["next_attempt"])
