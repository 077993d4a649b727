"""Recording accepted sends in bulk: the send loop's common case in a few statements.

Per message through the ORM, recording a send cost about 30 ms of the cron's single
thread (a write, a contact search and write, a search for early statuses, a chatter
note through ``message_post``, each in savepoints): that, not the rate limit, bounded a
number's drain. Here the plain success (a queued message Meta accepted) is one
``UPDATE ... FROM (VALUES ...)`` per batch, the new contacts one ``create``, the early
statuses one query and the chatter notes one ``_message_log_batch`` per round. Anything
else (a failure, a retry, a message whose state changed meanwhile) takes the ORM path
(``_finish_send``).
"""

import logging

import psycopg2

from odoo import fields, models

from ..tools import phone

_logger = logging.getLogger(__name__)


class OfitecWhatsappMessageRecord(models.Model):
    _inherit = "ofitec.whatsapp.message"

    def _record_sent_bulk(self, entries):
        """Record the sends in ``entries`` (``[(message, kind, SendResult)]``) that are
        still plain queued messages without a wamid; return the set of message ids
        recorded. The others (a status webhook reconciled the message first, a user
        cancelled it meanwhile) are left to the caller's ORM path, which never moves a
        state backwards."""
        if not entries:
            return set()
        self.env.flush_all()
        now = fields.Datetime.now()
        rows = [
            (message.id, kind, result.wamid, result.wa_id or None, result.user_id or None)
            for message, kind, result in entries
        ]
        values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(rows))
        params = [value for row in rows for value in row]
        self.env.cr.execute(
            f"""
            UPDATE ofitec_whatsapp_message AS m
               SET state = 'sent', message_type = v.kind, whatsapp_message_id = v.wamid,
                   sent_date = %s, error_code = NULL, error_title = NULL,
                   error_message = NULL, next_attempt = NULL, is_test = false,
                   wa_id = COALESCE(v.wa_id, m.wa_id), bsuid = COALESCE(v.bsuid, m.bsuid),
                   write_uid = %s, write_date = %s
              FROM (VALUES {values}) AS v(id, kind, wamid, wa_id, bsuid)
             WHERE m.id = v.id::int AND m.state = 'queued' AND m.whatsapp_message_id IS NULL
            RETURNING m.id
            """,  # noqa: S608 (only placeholders are formatted in)
            [now, self.env.uid, now, *params],
        )
        done = {row[0] for row in self.env.cr.fetchall()}
        sent = self.browse([m.id for m, _kind, _result in entries if m.id in done])
        sent.invalidate_recordset()
        # What the ORM computes from the messages' states (not stored, cached).
        self.env["ofitec.next.action"].invalidate_model(["whatsapp_sent", "whatsapp_problem"])
        sent._after_sent_bulk()
        return done

    def _after_sent_bulk(self):
        """What follows a recorded send, for a batch: the contacts learn their ids,
        statuses that came before the wamid apply, the actions note the sends. Meta
        accepted these messages: nothing here may undo their record (each step in a
        savepoint, errors logged)."""
        try:
            with self.env.cr.savepoint():
                self._remember_contacts()
        except (psycopg2.IntegrityError, psycopg2.extensions.TransactionRollbackError) as error:
            # Another worker (or an inbound text) created or updated one of these
            # contacts meanwhile: one at a time, as the ORM path does.
            _logger.info("WhatsApp: contacts of a batch one by one: %s", type(error).__name__)
            for message in self:
                try:
                    with self.env.cr.savepoint():
                        message._remember_contact()
                except (psycopg2.IntegrityError, psycopg2.extensions.TransactionRollbackError):
                    _logger.warning("WhatsApp message %s was sent; its contact later", message.id)
        self._apply_early_statuses()
        self.env["ofitec.next.action"]._whatsapp_log_sent_batch(self)

    def _find_contacts(self):
        """``_get_contact`` for many messages in one search: ``{message id: contact}``
        (an empty recordset when there is none), the same contact ``_find`` picks."""
        Contact = self.env["ofitec.whatsapp.contact"].sudo()
        keys = {}
        for message in self.filtered("config_id"):
            wa_id = message.wa_id or (phone.to_wa_id(message.phone) if message.phone else None)
            variants = [wa_id, *phone.wa_id_variants(wa_id)] if wa_id else []
            keys[message] = (message.bsuid, variants)
        found = Contact
        bsuids = [bsuid for bsuid, _variants in keys.values() if bsuid]
        wa_ids = [wa_id for _bsuid, variants in keys.values() for wa_id in variants]
        if bsuids or wa_ids:
            found = Contact.search(
                [
                    ("config_id", "in", list({message.config_id.id for message in keys})),
                    "|",
                    ("bsuid", "in", bsuids),
                    ("wa_id", "in", wa_ids),
                ]
            )  # in the contacts' order, as _find's limit=1 picks
        by_bsuid, by_wa_id = {}, {}
        for contact in found:
            by_bsuid.setdefault((contact.config_id.id, contact.bsuid), contact)
            by_wa_id.setdefault((contact.config_id.id, contact.wa_id), contact)
        order = {contact: index for index, contact in enumerate(found)}
        contacts = dict.fromkeys(self.ids, Contact)
        for message, (bsuid, variants) in keys.items():
            config_id = message.config_id.id
            contact = by_bsuid.get((config_id, bsuid)) if bsuid else None
            if contact is None:
                matches = [by_wa_id[(config_id, w)] for w in variants if (config_id, w) in by_wa_id]
                contact = min(matches, key=order.get, default=Contact)
            contacts[message.id] = contact
        return contacts

    def _remember_contacts(self):
        """``_remember_contact`` for many messages: one search, one create of the new
        contacts; contacts whose identity changed are written one by one (rare)."""
        messages = self.filtered(lambda m: m.config_id and (m.wa_id or m.bsuid))
        contacts = messages._find_contacts()
        new, later, seen = [], self.browse(), set()
        for message in messages:
            contact = contacts[message.id]
            identity = (message.config_id.id, message.bsuid or message.wa_id)
            if not contact and identity not in seen:
                seen.add(identity)
                new.append(message._contact_vals())
            elif not contact or message._contact_changes(contact):
                later |= message
        if new:
            self.env["ofitec.whatsapp.contact"].sudo().create(new)
        for message in later:
            message._remember_contact()

    def _contact_vals(self):
        vals = {
            "config_id": self.config_id.id,
            "wa_id": self.wa_id,
            "bsuid": self.bsuid,
            "phone": self.phone,
            "partner_id": self.partner_id.id,
        }
        return {key: value for key, value in vals.items() if value}

    def _contact_changes(self, contact):
        """Whether ``_remember_contact`` would write ``contact``."""
        current = {
            "wa_id": contact.wa_id,
            "bsuid": contact.bsuid,
            "phone": contact.phone,
            "partner_id": contact.partner_id.id,
        }
        vals = self._contact_vals()
        return any(current[key] != value for key, value in vals.items() if key in current)

    def _apply_early_statuses(self):
        """``_after_whatsapp_id_assigned`` for a batch: one query finds the statuses
        that arrived before the wamids were stored (rare); only those are applied."""
        self.env.cr.execute(
            """
            SELECT DISTINCT m.id
              FROM ofitec_whatsapp_status s
              JOIN ofitec_whatsapp_message m
                ON m.config_id = s.config_id AND m.whatsapp_message_id = s.whatsapp_message_id
             WHERE m.id = ANY(%s) AND NOT COALESCE(s.applied, false)
            """,
            (self.ids,),
        )
        waiting = self.browse([row[0] for row in self.env.cr.fetchall()])
        for message in waiting:
            try:
                with self.env.cr.savepoint():
                    message._after_whatsapp_id_assigned()
            except Exception:
                _logger.exception("WhatsApp message %s: its early statuses later", message.id)
