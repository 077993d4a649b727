"""What became of an action's WhatsApp messages, told to the people concerned.

Every outcome a person should know lands on the action: a chatter note once a
notification or reminder was sent (or could not be), a mail activity for the
responsible user when someone could not be reached, and a warning flag the
dashboard shows. Notes are written in the language of the responsible user (or of
the company), since the cron that knows the outcome runs as a technical user.
"""

import logging

from markupsafe import Markup

from odoo import _, api, fields, models

from ..tools.status import LEFT_STATES, TERMINAL_STATES

_logger = logging.getLogger(__name__)

# Templates whose sends are worth a note: the notification and the reminder. Answers
# to replies are already visible as the reply's own note.
NOTIFICATION_CODES = ("urgent_action", "action_reminder")
OK_STATES = ("queued", *LEFT_STATES)
# error_code of a notification withdrawn because its action was closed before it was
# sent (ofitec_whatsapp_message_withdraw): no problem for anyone to solve.
WITHDRAWN = "withdrawn"


def reader_lang(env, users=(), company=None):
    """The one rule for the language of a text stored while its reader is not there (a
    cron, a webhook: they run as a technical user, in its language): the language of
    the first of ``users`` (who will read it) that has one, else that of ``company``
    (its partner's; the environment's company by default), else the environment's."""
    for user in users:
        if user and user.sudo().lang:
            return user.sudo().lang
    company = (company or env.company).sudo()
    return company.partner_id.lang or env.lang or "en_US"


class OfitecNextActionReport(models.Model):
    _inherit = "ofitec.next.action"

    whatsapp_problem = fields.Text(
        string="WhatsApp Problem",
        compute="_compute_whatsapp_problem",
        help="Who could not be reached over WhatsApp about this action, and why.",
    )

    @api.depends("whatsapp_message_ids.state", "whatsapp_notify_state")
    @api.depends_context("lang")  # worded for its reader: never stored
    def _compute_whatsapp_problem(self):
        for action in self:
            action.whatsapp_problem = action._whatsapp_get_problem() or False

    def _whatsapp_get_problem(self):
        """One line per recipient whose last notification or reminder did not go out."""
        self.ensure_one()
        messages = self.sudo().whatsapp_message_ids.filtered(
            lambda m: m.direction == "outbound" and m.template_id.code in NOTIFICATION_CODES
        )
        latest = {}
        for message in messages.sorted("id"):
            latest[message.partner_id.id or message.phone] = message
        # A loop, not a comprehension: _() reads the language from its caller's frame.
        lines = [self._whatsapp_notify_error_line()] if self.whatsapp_notify_state else []
        lines = [line for line in lines if line]
        for message in latest.values():
            config = message.config_id.sudo()
            if message.state == "queued" and config.sending_paused and not message._is_test_only():
                lines.append(
                    _(
                        "%(who)s: waiting, the number %(number)s is paused (%(why)s)",
                        who=message._whatsapp_recipient_label(),
                        number=config.name,
                        why=config.paused_reason or "?",
                    )
                )
            elif message.state in TERMINAL_STATES and message.error_code != WITHDRAWN:
                lines.append(
                    _(
                        "%(who)s: %(why)s",
                        who=message._whatsapp_recipient_label(),
                        why=message.error_message or _("not sent"),
                    )
                )
        return "\n".join(lines)

    # ------------------------------------------------------------------
    # Business methods
    # ------------------------------------------------------------------
    def _whatsapp_lang(self):
        """The language of notes written without a user present (cron, webhook): its
        people's (the assigned user, else the project manager), else its company's."""
        self.ensure_one()
        action = self.sudo()
        readers = (action.user_id, action.project_id.user_id)
        return reader_lang(self.env, readers, action.company_id)

    def _whatsapp_in_lang(self):
        """This action (as superuser) in the language of its notes."""
        self.ensure_one()
        return self.sudo().with_context(lang=self._whatsapp_lang())

    def _whatsapp_responsible(self):
        """Who must act when WhatsApp cannot reach someone: the assigned user, else the
        project manager."""
        self.ensure_one()
        action = self.sudo()
        users = action.user_id | action.project_id.user_id
        return users.filtered(lambda u: u.active and not u.share)[:1]

    def _whatsapp_log_queued(self, messages, reason):
        """Recipients that were skipped at once get their note now; the others get
        one when the queue knows the outcome (``_whatsapp_log_outcome``)."""
        skipped = messages.filtered(lambda m: m.state in TERMINAL_STATES)
        if skipped:
            self._whatsapp_in_lang()._whatsapp_report_problems(skipped)

    def _whatsapp_log_outcome(self, message):
        """Note what became of ``message`` once it was sent, failed or cancelled."""
        self.ensure_one()
        if message.state in TERMINAL_STATES:
            self._whatsapp_report_problems(message)
            return
        if message.template_id.code not in NOTIFICATION_CODES:
            return
        self.message_post(body=self._whatsapp_sent_text(message), subtype_xmlid="mail.mt_note")

    def _whatsapp_sent_text(self, message):
        """The note of a sent notification or reminder, in this environment's language."""
        who = message._whatsapp_recipient_label()
        if message.template_id.code == "action_reminder":
            text = _("WhatsApp reminder sent to %s.", who)
        else:
            text = _("WhatsApp notification sent to %s.", who)
        if message.is_test:
            text = _("%s Test mode: it did not leave Odoo.", text)
        return text

    @api.model
    def _whatsapp_log_sent_batch(self, messages):
        """``_whatsapp_log_outcome`` for many sent messages: the same notes, written by
        ``_message_log_batch`` (one ``create`` per round of distinct actions and
        language; a note notifies nobody, so ``message_post``'s recipient search is
        skipped). Never raises: the record of the sends must not depend on a note."""
        rounds = []  # [{(lang, action): message}], each action once per round
        for message in messages:
            action = message.next_action_id
            if message.direction != "outbound" or not action:
                continue
            if message.template_id.code not in NOTIFICATION_CODES:
                continue
            key = (action._whatsapp_lang(), action)
            free = next((notes for notes in rounds if key not in notes), None)
            if free is None:
                free = {}
                rounds.append(free)
            free[key] = message
        for notes in rounds:
            by_lang = {}
            for (lang, action), message in notes.items():
                by_lang.setdefault(lang, []).append((action, message))
            for lang, pairs in by_lang.items():
                actions = self.browse([action.id for action, _message in pairs])
                actions = actions.sudo().with_context(lang=lang)
                try:
                    with self.env.cr.savepoint():
                        bodies = {a.id: actions._whatsapp_sent_text(m) for a, m in pairs}
                        actions._message_log_batch(bodies)
                except Exception:
                    _logger.exception("WhatsApp: the notes of %s sends failed", len(pairs))

    def _whatsapp_report_problems(self, messages):
        """One note naming who could not be reached and why, and an activity for the
        responsible user (one open activity per action is enough)."""
        self.ensure_one()
        lines = [self._whatsapp_problem_line(message) for message in messages]
        self._whatsapp_alert(lines)

    def _whatsapp_note_withdrawn(self, messages):
        """One note naming the people whose alert was withdrawn, and why; no activity:
        nobody has anything to do about it."""
        self.ensure_one()
        lines = [self._whatsapp_problem_line(message) for message in messages]
        # Logged, not posted: a note tells no follower, so message_post's follower and
        # notification work would be spent on nobody (as the reply notes are logged).
        self.sudo()._message_log(body=Markup("<br/>").join(lines))

    def _whatsapp_problem_line(self, message):
        """Who ``message`` did not reach and why, in this action's language."""
        return _(
            "No WhatsApp message for %(who)s: %(why)s",
            who=message._whatsapp_recipient_label(),
            why=message.error_message or _("unknown reason"),
        )

    def _whatsapp_report_paused(self, messages, reason):
        """``messages`` wait because their number is paused (its token was refused):
        they are not lost, but nobody is reached until a manager fixes the token."""
        self.ensure_one()
        lines = []
        for message in messages:  # not a comprehension: _() reads its caller's language
            lines.append(
                _(
                    "The WhatsApp message for %(who)s waits: the number %(number)s is "
                    "paused (%(why)s). It goes out once a manager enters a new token.",
                    who=message._whatsapp_recipient_label(),
                    number=message.config_id.sudo().name,
                    why=reason,
                )
            )
        self._whatsapp_alert(lines)

    def _whatsapp_alert(self, lines):
        """One note with ``lines`` and an activity for the responsible user (one open
        activity of ours per action and user)."""
        # Names and reasons are text, not HTML: Markup.join escapes them.
        body = Markup("<br/>").join(lines)
        self.message_post(body=body, subtype_xmlid="mail.mt_note")
        responsible = self._whatsapp_responsible()
        if not responsible:
            return
        activity_type = self.env.ref(
            "ofitec_whatsapp.mail_activity_type_whatsapp_problem", raise_if_not_found=False
        ) or self.env.ref("mail.mail_activity_data_todo")
        # By type, not by summary: the summary is in the language of whoever wrote it.
        existing = (
            self.env["mail.activity"]
            .sudo()
            .search(
                [
                    ("res_model", "=", self._name),
                    ("res_id", "=", self.id),
                    ("user_id", "=", responsible.id),
                    ("activity_type_id", "=", activity_type.id),
                ],
                limit=1,
            )
        )
        if existing:
            return
        # No assignment e-mail: it would be sent on behalf of the technical user that
        # learnt the outcome (cron, webhook); the activity shows in the user's Odoo.
        self.env["mail.activity"].sudo().with_context(mail_activity_quick_update=True).create(
            {
                "res_model_id": self.env["ir.model"]._get_id(self._name),
                "res_id": self.id,
                "activity_type_id": activity_type.id,
                "summary": _("WhatsApp could not reach someone"),
                "note": body,
                "user_id": responsible.id,
                "date_deadline": fields.Date.context_today(self),
            }
        )
