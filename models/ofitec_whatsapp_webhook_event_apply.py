"""Applying stored webhook events: a cron batch together, an event alone as the fallback.

Meta sends one status or one message per POST, many POSTs: per event, a savepoint, a
status batch of one and an ORM write cost more than the event's own work. A batch of
events is therefore applied together (its statuses in one ``_ingest_batch`` per number,
its events marked with one UPDATE), and event by event, each in its own savepoint, only
when that fails: one bad event is then marked failed with its error, the others apply.
"""

import logging
from collections import namedtuple
from datetime import timezone

from psycopg2.extensions import TransactionRollbackError

from odoo import fields, models

_logger = logging.getLogger(__name__)

# Inbound messages per batch: applied together, a text costs a few milliseconds (most
# of it the action's change and its history entry), the batch's fixed part (claim,
# lookups, INSERTs, commit) about twenty statements; an answer is queued only when its
# batch commits, so a batch stays a fraction of a second.
MESSAGES_PER_BATCH = 25
# What processing an event leaves on it (one row of the batch's UPDATE).
Outcome = namedtuple("Outcome", "state error message_count status_count")
# The columns that recording an outcome writes (``_record_outcomes``).
_OUTCOME_FIELDS = [
    *Outcome._fields,
    "attempt_count",
    "processed_date",
    "write_uid",
    "write_date",
]


def _merge_notices(notices, more):
    """``notices``: config -> actions whose dashboards refresh once for the batch."""
    for config, actions in more.items():
        notices[config] = notices.get(config, actions) | actions


class OfitecWhatsappWebhookEventApply(models.Model):
    _inherit = "ofitec.whatsapp.webhook.event"

    def _process_batch(self, notices):
        """Apply these events (a cron batch, in id order) and record each one's outcome;
        returns the events taken: the first ones, up to ``MESSAGES_PER_BATCH`` inbound
        messages (the others stay received for the next batch).

        ``notices`` (config -> actions) gathers the dashboards to refresh; the caller
        sends them for many events at once.
        """
        items = self._parse_batch()
        taken = self.browse([event.id for event, _parsed in items])
        batch_notices = {}
        try:
            with self.env.cr.savepoint():
                taken._apply_together(items, batch_notices)
        except TransactionRollbackError:
            raise  # another worker changed the same rows: the caller runs it again
        except Exception:  # whatever it was, the events alone say which one
            _logger.info(
                "WhatsApp webhooks %s: batch failed, applied one by one", taken.ids, exc_info=True
            )
        else:
            _merge_notices(notices, batch_notices)
            return taken
        for event in taken:
            try:
                with self.env.cr.savepoint():
                    event._process(notices)
            except TransactionRollbackError:
                raise
            except Exception as error:  # never let one event block the ones after it
                _logger.exception("WhatsApp webhook %s could not be processed", event.id)
                event.write(
                    {
                        "state": "failed",
                        "error": f"{type(error).__name__}: {error}",
                        "attempt_count": event.attempt_count + 1,
                    }
                )
        return taken

    def _parse_batch(self):
        """``[(event, ParsedWebhook or the error that parsing raised, a str)]`` for the
        first of these events, up to ``MESSAGES_PER_BATCH`` inbound messages (at least
        one event): statuses cost a fraction of a millisecond each, a text tens."""
        items = []
        messages = 0
        stored = self._stored_bodies()
        for event in self:
            if items and messages >= MESSAGES_PER_BATCH:
                break
            try:
                parsed = event._parse_payload(*stored[event.id])
            except ValueError as error:  # WebhookPayloadError included
                items.append((event, str(error)))
                continue
            except Exception as error:  # never let one event block the ones after it
                _logger.exception("WhatsApp webhook %s could not be parsed", event.id)
                items.append((event, f"{type(error).__name__}: {error}"))
                continue
            items.append((event, parsed))
            messages += len(parsed.messages)
        return items

    def _apply_together(self, items, notices):
        """The batch path for ``items`` (see ``_parse_batch``): every status of the
        batch first (one ``_ingest_batch`` per number: the forward-only rule holds
        across events, a ``read`` before a ``delivered`` of the same message ends in
        ``read``), then the inbound messages of each number together in id order
        (``_ingest_inbound_batch``), the template updates, and one UPDATE for all the
        events."""
        outcomes = {}
        work = []
        statuses_by_config = {}
        for event, parsed in items:
            if isinstance(parsed, str):  # the error that parsing raised
                outcomes[event.id] = Outcome("failed", parsed, 0, 0)
                continue
            statuses, messages = event._own_items(parsed)
            statuses_by_config.setdefault(event.config_id, []).extend(statuses)
            work.append((event, parsed, statuses, messages))
        for config, statuses in statuses_by_config.items():
            if statuses:
                env = config._get_processing_env()
                env["ofitec.whatsapp.status"]._ingest_batch(config, statuses)
        inbounds_by_config = {}
        for event, _parsed, _statuses, messages in work:
            inbounds_by_config.setdefault(event.config_id, []).extend(messages)
        for config, inbounds in inbounds_by_config.items():
            if inbounds:  # together, in the events' order (one sender's in order)
                env = config._get_processing_env()
                touched = env["ofitec.whatsapp.message"]._ingest_inbound_batch(config, inbounds)
                _merge_notices(notices, {config: touched})
        for event, parsed, statuses, messages in work:
            errors = [f"{path}: {reason}" for path, reason in parsed.invalid_items]
            touched = event._apply_messages([], parsed.template_updates, errors)
            outcomes[event.id] = event._outcome(errors, messages, statuses)
            if statuses or messages:
                _merge_notices(notices, {event.config_id: touched})
        self._record_outcomes(outcomes)

    def _process(self, notices=None):
        """Apply every status and message of this event alone; one bad item never stops
        the rest (the fallback of a batch that failed, and what it did before batches).

        The dashboards of the number are notified at once, or, given ``notices`` (a dict
        config -> actions), later by the caller, once for many events.
        """
        self.ensure_one()
        config = self.config_id
        env = config._get_processing_env()
        try:
            parsed = self._parse_payload()
        except ValueError as error:  # WebhookPayloadError included
            self._record_outcomes({self.id: Outcome("failed", str(error), 0, 0)})
            return False
        errors = [f"{path}: {reason}" for path, reason in parsed.invalid_items]
        statuses, messages = self._own_items(parsed)
        try:
            # Meta batches up to 1,000 statuses per POST: apply them together...
            with self.env.cr.savepoint():
                env["ofitec.whatsapp.status"]._ingest_batch(config, statuses)
        except TransactionRollbackError:
            raise
        except Exception:
            # ... and when that fails, one by one, so one bad item never stops the others.
            _logger.info("WhatsApp webhook %s: statuses applied one by one", self.id)
            for status in statuses:
                try:
                    with self.env.cr.savepoint():
                        env["ofitec.whatsapp.status"]._ingest(config, status)
                except TransactionRollbackError:
                    raise
                except Exception as error:
                    _logger.exception(
                        "WhatsApp webhook %s: status %s failed", self.id, status.wamid
                    )
                    errors.append(f"status {status.wamid}: {error}")
        touched = self._apply_messages(messages, parsed.template_updates, errors)
        self._record_outcomes({self.id: self._outcome(errors, messages, statuses)})
        if statuses or messages:
            if notices is None:
                config._notify_dashboard(touched)
            else:
                _merge_notices(notices, {config: touched})
        return not errors

    # ------------------------------------------------------------------
    # The steps
    # ------------------------------------------------------------------
    def _stored_bodies(self):
        """``{event id: (payload, create_date)}`` of these events in one query (the
        body is not prefetched: read through the ORM, it costs a query per event)."""
        self.flush_recordset(["payload"])
        self.env.cr.execute(
            "SELECT id, payload, create_date FROM ofitec_whatsapp_webhook_event WHERE id = ANY(%s)",
            (self.ids,),
        )
        return {row[0]: row[1:] for row in self.env.cr.fetchall()}

    def _parse_payload(self, payload=None, create_date=None):
        """The event's ParsedWebhook (from its stored ``payload`` and ``create_date``
        when given); ValueError when the body cannot be parsed."""
        self.ensure_one()
        config = self.config_id
        if payload is None:
            payload, create_date = self.payload, self.create_date
        # The route's per-process handler (parsing needs no secret, and reading the
        # secrets costs a query each); an archived number has none: build one.
        route = self.env["ofitec.whatsapp.config"].sudo()._get_webhook_route(config.id)
        handler = route[1] if route else config._get_webhook_handler()
        return handler.parse(
            payload.encode("utf-8"),
            received_at=create_date.replace(tzinfo=timezone.utc).timestamp(),
        )

    def _own_items(self, parsed):
        """The statuses and messages of ``parsed`` meant for this event's number."""
        expected = self.config_id.phone_number_id
        statuses = [s for s in parsed.statuses if self._is_for_config(s, expected)]
        messages = [m for m in parsed.messages if self._is_for_config(m, expected)]
        return statuses, messages

    def _apply_messages(self, messages, template_updates, errors):
        """Store and route each inbound message in its own savepoint (a failure goes to
        ``errors``), then apply the template updates; returns the actions touched."""
        self.ensure_one()
        config = self.config_id
        touched = self.env["ofitec.next.action"]
        if not messages and not template_updates:
            return touched  # a status-only event, the most common one
        env = config._get_processing_env()
        touched = env["ofitec.next.action"]
        for message in messages:
            try:
                with self.env.cr.savepoint():
                    touched |= env["ofitec.whatsapp.message"]._ingest_inbound(config, message)
            except TransactionRollbackError:
                raise
            except Exception as error:
                _logger.exception("WhatsApp webhook %s: message %s failed", self.id, message.wamid)
                errors.append(f"message {message.wamid}: {error}")
        for change in template_updates:
            env["ofitec.whatsapp.template"]._apply_meta_status(change)
        return touched

    @staticmethod
    def _outcome(errors, messages, statuses):
        return Outcome(
            "failed" if errors else "processed",
            "\n".join(errors) or None,
            len(messages),
            len(statuses),
        )

    def _record_outcomes(self, outcomes):
        """Mark events processed or failed (``outcomes``: event id -> Outcome), all in
        one UPDATE, each with its own counts and error."""
        if not outcomes:
            return
        self.env.flush_all()
        ids = list(outcomes)
        self.env.cr.execute(
            """
            UPDATE ofitec_whatsapp_webhook_event AS e
               SET state = o.state,
                   error = o.error,
                   message_count = o.message_count,
                   status_count = o.status_count,
                   attempt_count = COALESCE(e.attempt_count, 0) + 1,
                   processed_date = %(now)s,
                   write_uid = %(uid)s,
                   write_date = now() AT TIME ZONE 'UTC'
              FROM unnest(%(ids)s::int[], %(states)s::varchar[], %(errors)s::text[],
                          %(messages)s::int[], %(statuses)s::int[])
                   AS o(id, state, error, message_count, status_count)
             WHERE e.id = o.id
            """,
            {
                "now": fields.Datetime.now(),
                "uid": self.env.uid,
                "ids": ids,
                "states": [outcomes[i].state for i in ids],
                "errors": [outcomes[i].error for i in ids],
                "messages": [outcomes[i].message_count for i in ids],
                "statuses": [outcomes[i].status_count for i in ids],
            },
        )
        self.browse(ids).invalidate_recordset(_OUTCOME_FIELDS)

    def _is_for_config(self, item, expected):
        """Items for another number of the same app (``expected``: this event's number's
        id at Meta) are not ours: log and skip them."""
        phone_number_id = item.phone_number_id
        if not expected or not phone_number_id or phone_number_id == expected:
            return True
        _logger.info(
            "WhatsApp webhook %s: item for phone_number_id %s ignored (config %s expects %s)",
            self.id,
            phone_number_id,
            self.config_id.id,
            expected,
        )
        return False
