"""The outbound queue: claim in batches, send through the provider, record the outcome."""

import json
import logging
import uuid
from functools import partial

import psycopg2

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..tools import commands, phone, provider, templates
from ..tools import status as status_rule
from ..tools.errors import (
    AuthError,
    PermanentError,
    RetryableError,
    WhatsAppError,
    WindowClosedError,
)
from ..tools.provider import SendResult
from .ofitec_whatsapp_config import MissingCredentialsError
from .ofitec_whatsapp_message_claim import NotStarted, SendStep
from .ofitec_whatsapp_message_hold import TemplateNotApproved

_logger = logging.getLogger(__name__)

# What _guarded returns when the guarded method failed.
_BROKEN = object()


class OfitecWhatsappMessageQueue(models.Model):
    _inherit = "ofitec.whatsapp.message"

    # ------------------------------------------------------------------
    # Queue
    # ------------------------------------------------------------------
    @api.model
    def _trigger_queue(self, at=None):
        # By id from the cached xml id lookup: env.ref() would also query the cron.
        cron_id = self.env["ir.model.data"]._xmlid_to_res_id(
            "ofitec_whatsapp.ir_cron_whatsapp_send_queue", raise_if_not_found=False
        )
        if cron_id:
            self.env["ir.cron"].sudo().browse(cron_id)._trigger_unless_pending(at)

    def _guarded(self, what, method, *args):
        """Run ``method`` in a savepoint: an error preparing or recording one message
        must not roll back the other messages of its batch (Meta accepted their sends).
        ``what``: the step, for the log."""
        try:
            with self.env.cr.savepoint():
                return method(*args)
        except Exception:
            # The message stays queued (leased by its claim): tried again later; a send
            # already made is reconciled first by a status webhook with our callback data.
            _logger.exception("WhatsApp message %s: %s failed", self.id, what)
            self.invalidate_recordset()
            return _BROKEN

    def _prepare_send(self, clients, contact=None):
        """Everything before the HTTP call (ORM, this thread). ``contact``: the
        recipient's contact when the caller looked it up already (``_find_contacts``).

        Returns the SendStep to run, or None when the message was settled without one
        (failed, cancelled, held, retried later, or 'sent' in test mode).
        """
        self.ensure_one()
        # Reasons stored on the message are read by the action's people: their language.
        step = self._in_notes_lang()._prepare_send_checked(clients, contact)
        return step if isinstance(step, SendStep) else None

    def _prepare_send_checked(self, clients, contact=None):
        self.ensure_one()
        config = self.config_id.sudo()
        if not config or not config.active:
            return self._mark_failed("config", _("No active WhatsApp configuration."))
        if self._is_for_closed_action():
            return self._mark_withdrawn()
        contact = self._get_contact() if contact is None else contact
        if contact.opted_out and not self.force_send:
            return self._mark_cancelled(_("The recipient opted out (STOP/BAJA)."))
        recipient = self.phone or self.bsuid
        if not recipient:
            return self._mark_cancelled(_("No WhatsApp number for this recipient."))
        test_only = self._is_test_only()
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
        return self._send_step(clients, config, recipient, kind)

    def _is_test_only(self):
        """True when this message is only recorded as sent: its number is in test mode
        and the recipient is not on the allow-list. It needs neither the token nor an
        approved template (the claim says the same in SQL: ``message_claim._TEST_ONLY``)."""
        self.ensure_one()
        config = self.config_id.sudo()
        return bool(config.test_mode) and not config._is_allowlisted(self.phone)

    def _send_step(self, clients, config, recipient, kind):
        """This send's HTTP call, ready for a send thread (``clients``: config id ->
        client, shared by the cycle); recorded as failed, or retried, when it cannot
        be prepared."""
        try:
            client = clients.get(config.id)
            if client is None:
                client = clients[config.id] = config._get_client()
            call = self._prepare_call(client, recipient, kind)
        except MissingCredentialsError as error:  # as a refused token: wait, never fail
            return self._hold_for_token(AuthError(str(error.args[0])))
        except UserError as error:
            return self._mark_failed("config", str(error))
        except Exception as error:  # a bug must not stop the queue for everybody
            _logger.exception("WhatsApp message %s: unexpected error before sending", self.id)
            return self._schedule_retry(RetryableError(title=type(error).__name__))
        return SendStep(client=client, recipient=recipient, kind=kind, call=call)

    def _finish_send(self, step, outcome):
        """Record what the provider answered (ORM, this thread)."""
        self.ensure_one()
        # Reasons stored on the message are read by the action's people: their language.
        return self._in_notes_lang()._finish_send_in_lang(step, outcome)

    def _finish_send_in_lang(self, step, outcome):
        """``_finish_send`` itself, in the environment's language (the notes')."""
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
            self.next_attempt = False  # due again at once (its claim's lease ends)
            self._trigger_queue()
            return False
        if error is None:
            return self._mark_sent(result, step.kind)
        if isinstance(error, NotStarted):
            self.next_attempt = False  # never sent: due again at once
            return False
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
                # Offered inside the 24-hour window, in this order.
                for command, title in templates.QUICK_REPLY_TITLES.items()
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
        vals = self._sent_vals(result, kind, is_test)
        if self.state in status_rule.TERMINAL_STATES:
            self.write(dict(vals, next_attempt=False))
            return True  # already reported (a failure) or cancelled by someone
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
        self._tell_completed_if_closed()
        return True

    def _sent_vals(self, result, kind, is_test):
        """What recording this send writes: everything, or only what is still unknown
        when a status webhook got here first (it reconciled the send by our callback
        data, maybe delivered it since) or the message was cancelled meanwhile: never
        backwards."""
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
        if status_rule.status_moves_forward(self.state, "sent"):
            return vals
        unknown = ("message_type", "whatsapp_message_id", "sent_date", "wa_id", "bsuid")
        return {key: value for key, value in vals.items() if key in unknown and not self[key]}

    def _mark_failed(self, code, message, title=None):
        self.write(
            {
                "state": "failed",
                "error_code": str(code) if code not in (None, False) else False,
                # What the failures are grouped by: the provider's title, else ours.
                "error_title": self._error_title_text(title) or message,
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
