from datetime import datetime, timezone

from odoo import _, api, fields, models

from ..tools import phone
from ..tools.schema import drop_indexes
from ..tools.window import is_window_open


class OfitecWhatsappContact(models.Model):
    """A WhatsApp user as seen by one business number: identity, window and opt-out."""

    _name = "ofitec.whatsapp.contact"
    _description = "WhatsApp Contact"
    _order = "last_inbound_at desc, id desc"

    # Not index=True: the unique (config_id, wa_id) and (config_id, bsuid) indexes serve it.
    config_id = fields.Many2one("ofitec.whatsapp.config", required=True, ondelete="cascade")
    company_id = fields.Many2one(related="config_id.company_id", store=True)
    wa_id = fields.Char(string="WhatsApp ID", index=True, help="Digits, as Meta sends them.")
    bsuid = fields.Char(string="Business-scoped User ID", index=True)
    phone = fields.Char(help="E.164 number.")
    partner_id = fields.Many2one("res.partner", index=True, ondelete="set null")
    profile_name = fields.Char(help="Name chosen by the user in WhatsApp (not verified).")
    last_inbound_at = fields.Datetime(
        string="Last Message Received", help="Opens the 24-hour customer service window."
    )
    window_open = fields.Boolean(compute="_compute_window_open")
    opted_out = fields.Boolean(help="The user wrote STOP or BAJA: nothing more is sent.")
    opted_out_date = fields.Datetime()

    _sql_constraints = [
        ("wa_id_uniq", "unique(config_id, wa_id)", "A WhatsApp id is stored once per number."),
        ("bsuid_uniq", "unique(config_id, bsuid)", "A user id is stored once per number."),
    ]

    def init(self):
        drop_indexes(self.env.cr, "ofitec_whatsapp_contact_config_id_index")

    def name_get(self):
        result = []
        for contact in self:
            who = contact.partner_id.name or contact.profile_name or ""
            ident = contact.phone or contact.wa_id or contact.bsuid or ""
            result.append((contact.id, f"{who} ({ident})" if who and ident else who or ident))
        return result

    @api.depends("last_inbound_at")
    def _compute_window_open(self):
        for contact in self:
            contact.window_open = contact._is_window_open()

    def _is_window_open(self, at=None):
        self.ensure_one()
        return is_window_open(self.last_inbound_at, at or fields.Datetime.now())

    @api.model
    def _find(self, config, wa_id=None, bsuid=None, variants=()):
        """The contact of ``config`` with that BSUID, wa_id or one of its variants."""
        contact = self.browse()
        if bsuid:
            contact = self.search([("config_id", "=", config.id), ("bsuid", "=", bsuid)], limit=1)
        if not contact and wa_id:
            ids = [wa_id, *variants]
            contact = self.search([("config_id", "=", config.id), ("wa_id", "in", ids)], limit=1)
        return contact

    @api.model
    def _inbound_at(self, inbound):
        """When the user wrote ``inbound`` (Meta's timestamp), as a naive UTC datetime."""
        return datetime.fromtimestamp(inbound.timestamp, tz=timezone.utc).replace(tzinfo=None)

    @api.model
    def _touch_from_inbound(self, config, inbound, pool=None):
        """The sender's contact, created or updated; its 24-hour window restarts.

        ``pool``: the contacts a batch looked up at once for its senders
        (``_find_for_inbounds``; a contact created here joins it), instead of a search.
        """
        wa_id = inbound.from_wa_id
        variants = phone.wa_id_variants(wa_id) if wa_id else ()
        if pool is None:
            contact = self._find(config, wa_id=wa_id, bsuid=inbound.from_user_id, variants=variants)
        else:
            contact = pool._pick(inbound.from_user_id, [wa_id, *variants] if wa_id else [])
        at = self._inbound_at(inbound)
        # Within a conversation (the window open) the partner was looked for at its first
        # message: not again on every text (the search scans res.partner by phone).
        conversing = bool(contact) and contact._is_window_open(at)
        vals = contact._inbound_vals(inbound, at)
        if not contact:
            return self._create_from_inbound(config, inbound, vals, pool)
        contact._write_inbound_vals(vals)
        if not contact.phone and contact.wa_id:
            contact.phone = phone.normalize_phone("+" + contact.wa_id)
        if not contact.partner_id and contact.phone and not conversing:
            contact.partner_id = self._match_partner(config, contact.phone)
        return contact

    def _inbound_vals(self, inbound, at):
        """What a message from this contact (none yet: an empty recordset) received at
        ``at`` changes on it."""
        wa_id = inbound.from_wa_id
        vals = {}
        if wa_id and self.wa_id != wa_id and not self.wa_id:
            vals["wa_id"] = wa_id
        if inbound.from_user_id and self.bsuid != inbound.from_user_id:
            vals["bsuid"] = inbound.from_user_id
        if inbound.profile_name and self.profile_name != inbound.profile_name:
            vals["profile_name"] = inbound.profile_name
        if not self.last_inbound_at or self.last_inbound_at < at:
            vals["last_inbound_at"] = at
        if self.opted_out and (not self.opted_out_date or at > self.opted_out_date):
            # Writing again ends an opt-out (a STOP in this batch sets it again); a
            # message written before the STOP, delivered late, does not.
            vals.update(opted_out=False, opted_out_date=False)
        if inbound.type == "system" and (inbound.new_wa_id or inbound.new_user_id):
            # user_changed_number: keep following the same person.
            if inbound.new_wa_id:
                vals["wa_id"] = inbound.new_wa_id
                vals["phone"] = phone.normalize_phone("+" + inbound.new_wa_id) or False
            if inbound.new_user_id:
                vals["bsuid"] = inbound.new_user_id
        return vals

    def _write_inbound_vals(self, vals):
        """Write ``vals`` (``_inbound_vals``). A number change (``user_changed_number``:
        a new ``phone``) also moves the partner's number; when another contact of this
        number already has the new wa_id (the person wrote from it before), that one
        takes the partner instead of this one colliding with it."""
        self.ensure_one()
        old_phone, follower = self.phone, None
        if "phone" in vals and old_phone and vals["phone"] not in (False, old_phone):
            new_wa_id = vals["wa_id"]
            follower = self._find(
                self.config_id, wa_id=new_wa_id, variants=phone.wa_id_variants(new_wa_id)
            )
            if follower and follower != self:  # a variant may be this contact's own wa_id
                vals = {k: v for k, v in vals.items() if k not in ("wa_id", "phone", "bsuid")}
                follower.partner_id = follower.partner_id or self.partner_id
            else:
                follower = self
        if vals:
            self.write(vals)
        if follower and follower.partner_id:
            follower._follow_number_change(old_phone)

    def _follow_number_change(self, old_phone):
        """Meta said this contact's person changed number: the partner's mobile or
        phone that was ``old_phone`` becomes the new one (alerts must not go to a number
        that may now be someone else's), noted in the partner's chatter."""
        self.ensure_one()
        partner = self.partner_id.sudo()
        region = (partner.country_id.code or self.config_id._get_default_region()).upper()
        changed = [
            name
            for name in ("mobile", "phone")
            if partner[name] and phone.normalize_phone(partner[name], region) == old_phone
        ]
        if not changed:
            return
        partner.write(dict.fromkeys(changed, phone.display_phone(self.phone)))
        # Read by the partner's colleagues: in the partner's language (the cron's may differ).
        note = self.with_context(lang=partner.lang or self.env.lang)._number_change_note(old_phone)
        partner.message_post(body=note, subtype_xmlid="mail.mt_note")

    def _number_change_note(self, old_phone):
        return _(
            "WhatsApp: this person changed number from %(old)s to %(new)s (as Meta "
            "reported); their number here was updated.",
            old=old_phone,
            new=self.phone,
        )

    @api.model
    def _create_from_inbound(self, config, inbound, vals, pool):
        """The contact of a sender first heard of (``vals``: ``_inbound_vals``), with
        its number and partner; it joins ``pool`` when given."""
        vals.setdefault("wa_id", inbound.from_wa_id or False)
        vals["config_id"] = config.id
        # Given at once: the stored related field would cost an UPDATE after the INSERT.
        vals["company_id"] = config.company_id.id
        number = phone.normalize_phone("+" + vals["wa_id"]) if vals["wa_id"] else None
        if number:
            vals["phone"] = number
            vals["partner_id"] = self._match_partner(config, number).id or False
        contact = self.create(vals)
        if pool is not None:
            pool.contacts |= contact
        contact._created_from_inbound(inbound)
        return contact

    @api.model
    def _find_for_inbounds(self, config, inbounds):
        """The contacts of the senders of ``inbounds`` (one search), as a pool for
        ``_touch_from_inbound``."""
        bsuids, wa_ids = set(), set()
        for inbound in inbounds:
            if inbound.from_user_id:
                bsuids.add(inbound.from_user_id)
            if inbound.from_wa_id:
                wa_ids |= {inbound.from_wa_id, *phone.wa_id_variants(inbound.from_wa_id)}
        found = self.browse()
        if bsuids or wa_ids:
            found = self.search(
                [
                    ("config_id", "=", config.id),
                    "|",
                    ("bsuid", "in", list(bsuids)),
                    ("wa_id", "in", list(wa_ids)),
                ]
            )
        return _ContactPool(found)

    def _created_from_inbound(self, inbound):
        """Hook: this contact was just created from ``inbound``, its first message."""
        return None

    @api.model
    def _match_partner(self, config, number):
        """The partner whose mobile or phone is ``number`` (E.164), if exactly one."""
        digits = number.lstrip("+")
        tail = digits[-8:]
        region = config._get_default_region()
        partners = (
            self.env["res.partner"]
            .sudo()
            .search(["|", ("mobile", "ilike", tail[-4:]), ("phone", "ilike", tail[-4:])], limit=200)
        )
        matches = partners.filtered(
            lambda p: (
                number
                in {
                    phone.normalize_phone(p.mobile, (p.country_id.code or region).upper()),
                    phone.normalize_phone(p.phone, (p.country_id.code or region).upper()),
                }
            )
        )
        if len(matches) > 1:
            matches = matches.filtered("user_ids")  # prefer the one who is a user
        return matches if len(matches) == 1 else self.env["res.partner"]


class _ContactPool:
    """The contacts a batch of inbound messages may belong to; ``_pick`` chooses as
    ``_find`` does (the BSUID first, then a wa_id; the first in the model's order,
    ``last_inbound_at desc, id desc``, by the values as the batch changed them)."""

    def __init__(self, contacts):
        self.contacts = contacts

    def _pick(self, bsuid, wa_ids):
        def first(matches):
            # PostgreSQL puts NULLs first in a descending order.
            return max(
                matches,
                key=lambda c: (not c.last_inbound_at, c.last_inbound_at or datetime.min, c.id),
                default=self.contacts.browse(),
            )

        contact = self.contacts.browse()
        if bsuid:
            contact = first([c for c in self.contacts if c.bsuid == bsuid])
        if not contact and wa_ids:
            contact = first([c for c in self.contacts if c.wa_id in wa_ids])
        return contact
