"""Meta's runner of the shared reply-routing and status cases (tests/provider_cases.py)."""

import itertools

from odoo.tests import tagged

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
