"""Test mode's "Simulate reply": answer one of our messages as its recipient would.

The wizard builds the webhook the provider would post for the reply
(``tools.sandbox``), signed with the number's own secret, and posts it to the number's
own Webhook URL over HTTP: the route, the webhook log, the processing and the reply
routing all run as for a real reply.

The POST runs in a thread of its own, after the button's request has returned: the
webhook is answered by another request (another thread, or another worker with
``--workers``), and the button's request must not wait for it, because it holds a
database cursor (and, under Odoo's test runner, the one lock every request shares)
that the webhook's request needs. Nothing the processing locks (the message, the
action) is written before the POST. The thread then runs the webhook cron's job
(the same method; ``SKIP LOCKED`` keeps it from doing the cron's work twice), writes
the outcome on the wizard, and the browser, which polls ``get_simulation_result``,
shows it and opens the action.
"""

import logging
import threading
import time

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

from ..tools import commands, phone, sandbox, templates
from ..tools.status import LEFT_STATES

_logger = logging.getLogger(__name__)

MANAGER_GROUP = "ofitec_whatsapp.group_whatsapp_manager"
PROCESS_ATTEMPTS = 20  # looks for the processed reply, every PROCESS_PAUSE seconds
PROCESS_PAUSE = 0.5


def _deliver(registry, uid, context, wizard_id, request, testing):
    """Thread body: POST ``request``, then record what became of it on the wizard."""
    threading.current_thread().testing = testing  # no real commits under the test runner
    try:
        status, location = sandbox.post(request)
        cause = None
    except sandbox.WebhookUnreachable as error:
        status, location, cause = None, None, error.cause
    except Exception:
        _logger.exception("WhatsApp simulated reply %s could not be posted", request.message_id)
        status, location, cause = None, None, "other"
    for attempt in range(PROCESS_ATTEMPTS):
        try:
            with registry.cursor() as cr:
                env = api.Environment(cr, uid, context)
                wizard = env["ofitec.whatsapp.simulate.reply"].browse(wizard_id)
                last = attempt == PROCESS_ATTEMPTS - 1
                if wizard._record_outcome(request, status, location, cause, last):
                    return
        except Exception:
            _logger.exception("WhatsApp simulated reply %s: outcome not recorded", wizard_id)
            return
        time.sleep(PROCESS_PAUSE)


class OfitecWhatsappSimulateReply(models.TransientModel):
    _name = "ofitec.whatsapp.simulate.reply"
    _description = "Simulate a WhatsApp Reply (test mode)"

    message_id = fields.Many2one(
        "ofitec.whatsapp.message", string="Message", required=True, ondelete="cascade"
    )
    # Stored for the multi-company record rule: a message of another company is refused.
    company_id = fields.Many2one(related="message_id.company_id", store=True)
    partner_id = fields.Many2one(related="message_id.partner_id", string="Recipient")
    next_action_id = fields.Many2one(related="message_id.next_action_id", string="Action")
    webhook_url = fields.Char(compute="_compute_webhook_url", string="Webhook URL")
    reply = fields.Selection(
        [
            *templates.QUICK_REPLY_TITLES.items(),
            ("text", "Free text"),
        ],
        required=True,
        default=commands.CMD_COMPLETED,
    )
    text = fields.Char(help="What the recipient writes back.")
    state = fields.Selection(
        [("draft", "Draft"), ("posting", "Posting"), ("done", "Done")],
        default="draft",
        readonly=True,
    )
    inbound_wamid = fields.Char(string="Reply ID", readonly=True)
    inbound_message_id = fields.Many2one("ofitec.whatsapp.message", readonly=True)
    webhook_status = fields.Integer(readonly=True)
    result_type = fields.Char(readonly=True)
    result_message = fields.Text(readonly=True)

    @api.depends("message_id")
    def _compute_webhook_url(self):
        for wizard in self:
            wizard.webhook_url = wizard.message_id.config_id.webhook_url

    @api.model_create_multi
    def create(self, vals_list):
        wizards = super().create(vals_list)
        wizards._check_can_simulate()
        return wizards

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------
    def action_simulate(self):
        """Post the reply's webhook (in the background) and let the browser wait."""
        self.ensure_one()
        self._simulate()
        return {
            "type": "ir.actions.client",
            "tag": "ofitec_whatsapp_simulate_reply_wait",
            "params": {
                "wizard_id": self.id,
                "title": _("Simulated reply"),
                "timeout_message": _(
                    "The reply was posted but no outcome came back in time: see "
                    "WhatsApp › Configuration › Webhook Log."
                ),
            },
        }

    def get_simulation_result(self):
        """What the browser shows once the thread recorded the outcome."""
        self.ensure_one()
        if self.state != "done":
            return {"done": False}
        action = self.inbound_message_id.next_action_id or self.next_action_id
        following = False
        if action and self.result_type != "danger":
            following = {
                "type": "ir.actions.act_window",
                "res_model": action._name,
                "res_id": action.id,
                "views": [(False, "form")],
                "target": "current",
            }
        return {
            "done": True,
            "type": self.result_type,
            "title": _("Simulated reply"),
            "message": self.result_message,
            "next": following,
        }

    # ------------------------------------------------------------------
    # Business methods
    # ------------------------------------------------------------------
    def _check_can_simulate(self):
        """Managers only, numbers in test mode only, messages that were sent only."""
        if not self.env.user.has_group(MANAGER_GROUP):
            raise AccessError(_("Only WhatsApp managers can simulate replies."))
        for wizard in self:
            message = wizard.message_id.sudo()
            config = message.config_id
            if not config.test_mode:
                raise UserError(
                    _(
                        "Replies can only be simulated on a number in test mode; %s is live.",
                        config.name or "?",
                    )
                )
            if (
                message.direction != "outbound"
                or message.state not in LEFT_STATES
                or not message.whatsapp_message_id
            ):
                raise UserError(_("Only a message that was sent can be answered."))
            if wizard.reply == "text" and not (wizard.text or "").strip():
                raise UserError(_("Write the text of the reply."))

    def _simulate(self):
        """Check, build, sign and start posting; returns the posting thread."""
        self.ensure_one()
        self._check_can_simulate()
        request = self._prepare_request()
        cause = sandbox.probe(request.url)
        if cause:
            raise UserError(self._unreachable_text(request.url, cause))
        self.write({"state": "posting", "inbound_wamid": request.message_id})
        self.env.flush_all()
        thread = threading.Thread(
            target=_deliver,
            args=(
                self.pool,
                self.env.uid,
                dict(self.env.context),
                self.id,
                request,
                getattr(threading.current_thread(), "testing", False),
            ),
            name=f"ofitec_whatsapp.simulate_reply.{self.id}",
        )
        thread.start()
        return thread

    def _prepare_request(self):
        """The signed webhook (a tools.sandbox.SimulatedRequest) of this reply."""
        self.ensure_one()
        message = self.message_id.sudo()
        config = message.config_id
        command = None if self.reply == "text" else self.reply
        text = commands.COMMAND_WORDS[command] if command else self.text.strip()
        payload = None
        if command and message.next_action_id and self._offers_button(message, command):
            payload = commands.make_button_payload(message.next_action_id.id, command)
        name = message.partner_id.name or "Usuario WhatsApp"
        if config.provider == "twilio":
            return self._twilio_request(message, text, payload, name)
        return self._meta_request(message, text, payload, name)

    @api.model
    def _twilio_request(self, message, text, payload, name):
        """The form Twilio would POST for this reply to ``message``, signed."""
        config = message.config_id
        if not config.twilio_auth_token or not message.phone:
            raise UserError(_("The Twilio Auth Token or the recipient's number is missing."))
        return sandbox.twilio_reply_request(
            config.webhook_url,
            config.twilio_auth_token,
            reply_to=message.whatsapp_message_id,
            text=text,
            sender=message.phone,
            account_sid=config.twilio_account_sid or "",
            twilio_from=config.twilio_from or "",
            button_payload=payload,
            profile_name=name,
        )

    @api.model
    def _meta_request(self, message, text, payload, name):
        """The JSON Meta would POST for this reply to ``message``, signed."""
        config = message.config_id
        if not config.app_secret:
            raise UserError(
                _("The app secret of %s is missing: nothing can be signed.", config.name)
            )
        return sandbox.meta_reply_request(
            config.webhook_url,
            config.app_secret,
            reply_to=message.whatsapp_message_id,
            kind=message.message_type,
            text=text,
            button_payload=payload,
            sender=message.wa_id or (phone.to_wa_id(message.phone) if message.phone else None),
            user_id=message.bsuid or None,
            profile_name=name,
            phone_number_id=config.phone_number_id,
            waba_id=config.waba_id,
            display_phone_number=phone.to_wa_id(config.display_phone_number or "") or None,
        )

    @api.model
    def _offers_button(self, message, command):
        """True when ``message`` showed a button for ``command`` (a tap is then simulated)."""
        if message.message_type == "interactive":
            return True
        if message.message_type == "template" and message.template_id:
            return command in message.template_id._get_button_commands()
        return False

    def _unreachable_text(self, url, cause):
        cause_text = self.env["ofitec.whatsapp.message"]._network_cause_text(cause)
        return _(
            "The Webhook URL %(url)s could not be reached: %(cause)s. It is built from the "
            "system parameter web.base.url, which must be an address this server can reach "
            "(for a local demo, http://localhost:<port>).",
            url=url,
            cause=cause_text,
        )

    def _record_outcome(self, request, status, location, cause, last):
        """Write what became of the reply; False when it is not processed yet (and
        ``last`` is False): the caller looks again later."""
        self.ensure_one()
        vals = {"webhook_status": status or 0}
        if cause:
            vals.update(
                result_type="danger", result_message=self._unreachable_text(request.url, cause)
            )
        elif status != 200:
            vals.update(result_type="danger", result_message=self._refused_text(status, location))
        else:
            # The webhook cron's own job: processes this reply unless a worker already is.
            self.env["ofitec.whatsapp.webhook.event"].sudo()._process_pending()
            inbound = self.message_id.sudo().search(
                [
                    ("config_id", "=", self.message_id.sudo().config_id.id),
                    ("whatsapp_message_id", "=", request.message_id),
                ],
                limit=1,
            )
            if not inbound and not last:
                return False
            vals.update(self._processed_vals(inbound))
        self.sudo().write(dict(vals, state="done"))
        return True

    def _refused_text(self, status, location):
        if location:
            return _(
                "The Webhook URL answered with a redirect to %(location)s (HTTP %(status)s): "
                "set the system parameter web.base.url to the final address.",
                location=location,
                status=status,
            )
        if status == 403:
            return _(
                "The webhook refused the signature (HTTP 403): the Webhook URL may lead to "
                "another Odoo database or server."
            )
        return _("The webhook answered HTTP %s.", status)

    def _not_processed_vals(self):
        return {
            "result_type": "warning",
            "result_message": _(
                "The webhook accepted the reply (HTTP 200) but it is not processed yet: "
                "see WhatsApp › Configuration › Webhook Log."
            ),
        }

    def _processed_vals(self, inbound):
        if not inbound:
            return self._not_processed_vals()
        action = inbound.next_action_id
        reply = inbound.body or ""
        vals = {"inbound_message_id": inbound.id}
        if inbound.reply_processed and action:
            status = dict(action._fields["status"]._description_selection(self.env))
            return dict(
                vals,
                result_type="success",
                result_message=_(
                    "“%(reply)s” was received and applied: %(action)s is now %(status)s.",
                    reply=reply,
                    action=action.display_name,
                    status=status.get(action.status, action.status),
                ),
            )
        if inbound.command:
            return dict(
                vals,
                result_type="warning",
                result_message=_(
                    "“%(reply)s” was received; no action changed (see the answer sent back "
                    "in WhatsApp › Messages).",
                    reply=reply,
                ),
            )
        return dict(
            vals,
            result_type="info",
            result_message=_(
                "“%s” was received and stored as an inbound message; it is no command.",
                reply,
            ),
        )
