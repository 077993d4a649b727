"""The runners of the shared reply-routing and status cases (tests/provider_cases.py):
one per provider, same cases, same expectations, two transports."""

import itertools

from odoo.tests import TransactionCase, tagged

from ..tools.commands import make_button_payload
from .common import (
    WhatsAppCase,
    meta_button,
    meta_button_reply,
    meta_payload,
    meta_status,
    meta_text,
)
from .provider_cases import ProviderCasesMixin
from .twilio_common import TwilioMixin, twilio_inbound_form, twilio_status_form

_counter = itertools.count(1)
META_FAILED_CODE = 131026
META_STATUS = {"sent": "sent", "delivered": "delivered", "read": "read", "failed": "failed"}


@tagged("post_install", "-at_install")
class TestMetaProviderCases(ProviderCasesMixin, WhatsAppCase):
    def setUp(self):
        super().setUp()
        self.gateway = self.enterContext(self.mock_whatsapp_gateway())

    def _case_notify(self):
        action = self._create_action()
        self._run_queue()
        return action

    def _case_status(self, message, status):
        wire = META_STATUS.get(status, "deleted")  # a status Meta sends that moves nothing
        errors = [(META_FAILED_CODE, "Message undeliverable", "Gone")] if wire == "failed" else None
        event = self._receive(
            meta_payload(statuses=[meta_status(message.whatsapp_message_id, wire, errors=errors)])
        )
        self.assertEqual(event.state, "processed", event.error)

    def _case_reply(self, sender, kind, value, action, notification):
        wamid = f"wamid.IN.CASE{next(_counter)}"
        wa_id = sender.lstrip("+")
        if kind == "button":
            payload = make_button_payload(action.id, value)
            if notification.message_type == "template":
                item = meta_button(wamid, wa_id, payload, value.upper())
            else:
                item = meta_button_reply(wamid, wa_id, payload, value.upper())
        elif kind == "quoted":
            item = meta_text(wamid, wa_id, value, context_id=notification.whatsapp_message_id)
        else:
            item = meta_text(wamid, wa_id, value)
        event = self._receive(meta_payload(messages=[item]))
        self.assertEqual(event.state, "processed", event.error)

    def _case_failed_code(self):
        return META_FAILED_CODE

    def _case_last_text(self, number):
        last = self.gateway.sent_to(number)[-1]
        self.assertEqual(last["kind"], "text")
        return last["body"]


TWILIO_FAILED_CODE = 63024
# Neutral status -> what Twilio posts ('canceled' is a Twilio status that moves nothing).
TWILIO_STATUS = {"sent": "sent", "delivered": "delivered", "read": "read", "failed": "undelivered"}


@tagged("post_install", "-at_install")
class TestTwilioProviderCases(ProviderCasesMixin, TwilioMixin, TransactionCase):
    def setUp(self):
        super().setUp()
        self.transport = self.enterContext(self.mock_twilio())

    def _case_notify(self):
        action = self._create_action()
        self._run_queue()
        return action

    def _case_status(self, message, status):
        wire = TWILIO_STATUS.get(status, "canceled")
        code = TWILIO_FAILED_CODE if status == "failed" else None
        event = self._twilio_receive(
            twilio_status_form(message.whatsapp_message_id, wire, error_code=code)
        )
        self.assertEqual(event.state, "processed", event.error)

    def _case_reply(self, sender, kind, value, action, notification):
        sid = f"SM{'f' * 16}{next(_counter):016x}"  # never one of the fake's outbound SIDs
        if kind == "button":
            form = twilio_inbound_form(
                sid,
                sender,
                value.upper(),
                button_payload=make_button_payload(action.id, value),
                replied_sid=notification.whatsapp_message_id,
            )
        elif kind == "quoted":
            form = twilio_inbound_form(
                sid, sender, value, replied_sid=notification.whatsapp_message_id
            )
        else:
            form = twilio_inbound_form(sid, sender, value)
        event = self._twilio_receive(form)
        self.assertEqual(event.state, "processed", event.error)

    def _case_failed_code(self):
        return TWILIO_FAILED_CODE

    def _case_last_text(self, number):
        last = self.transport.sent_to(number)[-1]
        self.assertNotIn("ContentSid", last, "inside the window the answer is free text")
        return last["Body"]
