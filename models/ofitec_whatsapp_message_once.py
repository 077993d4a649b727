"""Messages that go once: a key per (reason, recipient), unique in the database.

The completion notice of an action to one person and the welcome of one WhatsApp
contact are each sent at most once, whatever happens around them (completed twice,
reopened and completed again, two workers creating the same contact). The key is
checked first (the ordinary case: no failed statement in the log) and the unique
index settles the rare race.
"""

import logging

import psycopg2

from odoo import api, fields, models

from ..tools.schema import drop_indexes

_logger = logging.getLogger(__name__)


class OfitecWhatsappMessageOnce(models.Model):
    _inherit = "ofitec.whatsapp.message"

    # Indexed by its unique constraint alone (``index=True`` made a second, identical
    # btree, written on every insert and status update of every message).
    once_key = fields.Char(
        readonly=True,
        copy=False,
        help="Set on messages that go at most once (the completion notice to one person, "
        "the welcome of one contact): unique.",
    )

    _sql_constraints = [
        ("once_key_uniq", "unique(once_key)", "This message was already queued once."),
    ]

    def init(self):
        res = super().init()
        drop_indexes(self.env.cr, "ofitec_whatsapp_message_once_key_index")
        return res

    def _whatsapp_identity(self):
        """(number, recipient) of this message: who it is to or from, as one key."""
        self.ensure_one()
        return (self.config_id.id, self.phone or self.bsuid or self.wa_id or "")

    @api.model
    def _create_once(self, vals_list):
        """Create the messages of ``vals_list`` (each with a ``once_key``) whose key was
        never used; returns those created."""
        created = self.browse()
        keys = [vals["once_key"] for vals in vals_list]
        used = self._used_once_keys(keys)
        for vals in vals_list:
            if vals["once_key"] in used:
                continue
            used.add(vals["once_key"])
            try:
                with self.env.cr.savepoint(flush=True):
                    created |= self.create(vals)
            except psycopg2.IntegrityError:
                # Another transaction queued the same message meanwhile: it goes once.
                _logger.info("WhatsApp message %s was queued by another worker", vals["once_key"])
        return created

    @api.model
    def _used_once_keys(self, keys):
        return set(self.sudo().search([("once_key", "in", keys)]).mapped("once_key"))
