"""Shared vocabulary of the Odoo tests: a fake gateway at the one network seam.

``ofitec.whatsapp.config._get_client()`` is the only place the ORM obtains a network
client; ``mock_whatsapp_gateway()`` replaces it with ``FakeCloudClient``, which records
every payload and can be told to fail for a given number. Besides, every test class
of this module blocks real network access: any HTTP request to a host other than
this machine fails the test (``NetworkKillSwitch``).
"""

import itertools
import json
from contextlib import contextmanager
from datetime import timedelta, timezone
from unittest.mock import patch

import requests

from odoo import fields
from odoo.tests import common

from ..tools import commands
from ..tools.cloud_api import SendResult
from ..tools.errors import make_error
from ..tools.phone import is_bsuid
from ..tools.signature import meta_signature_header

_wamid_counter = itertools.count(1)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


class RealNetworkCall(AssertionError):
    pass


_original_adapter_send = requests.adapters.HTTPAdapter.send


def _guarded_send(adapter, request, *args, **kwargs):
    host = requests.utils.urlparse(request.url).hostname or ""
    if host not in LOCAL_HOSTS:
        raise RealNetworkCall(f"A test tried to reach {host}: the network must be faked.")
    return _original_adapter_send(adapter, request, *args, **kwargs)


class FakeCloudClient:
    """Stands in for tools.cloud_api.CloudApiClient; records instead of sending."""

    def __init__(self, gateway, config):
        self.gateway = gateway
        self.config = config
        gateway.clients.append(config.id)

    def _send(self, kind, to, payload):
        self.gateway.calls.append(dict(payload, kind=kind, to=to, config_id=self.config.id))
        error = self.gateway.next_error(to)
        if error is not None:
            raise error
        wamid = self.gateway.next_wamid(to) or f"wamid.TEST{next(_wamid_counter):06d}"
        # Sent to a BSUID: Meta answers with the user id, the phone may stay unknown.
        user_id = to if is_bsuid(to) else None
        wa_id = self.gateway.wa_ids.get(to) or (None if user_id else to.lstrip("+"))
        self.gateway.sent.append(dict(payload, kind=kind, to=to, wamid=wamid))
        return SendResult(
            wamid=wamid, wa_id=wa_id, input=to, user_id=user_id, message_status=None, raw={}
        )

    def send_text(self, to, body, preview_url=False, context_message_id=None, callback_data=None):
        return self._send(
            "text",
            to,
            {"body": body, "context_message_id": context_message_id, "callback": callback_data},
        )

    def send_buttons(self, to, body, buttons, header=None, footer=None, callback_data=None):
        return self._send(
            "interactive", to, {"body": body, "buttons": list(buttons), "callback": callback_data}
        )

    def send_template(self, to, template, body_params, button_payloads=None, callback_data=None):
        return self._send(
            "template",
            to,
            {
                "name": template.name,
                "language": template.language,
                "params": list(body_params),
                "button_payloads": list(button_payloads or []),
                "callback": callback_data,
            },
        )

    def mark_read(self, wamid):
        self.gateway.calls.append({"kind": "mark_read", "wamid": wamid})
        return True

    def get_phone_number(self):
        self.gateway.calls.append({"kind": "get_phone_number"})
        error = self.gateway.next_error("*")
        if error is not None:
            raise error
        return dict(self.gateway.phone_info)


class FakeGateway:
    def __init__(self):
        self.clients = []  # config id of every client built (the seam was called)
        self.calls = []  # every attempt, failed or not
        self.sent = []  # accepted sends only
        self.errors = {}  # number (or '*') -> list of exceptions, consumed in order
        self.wa_ids = {}  # number -> wa_id Meta "returns"
        self.wamids = {}  # number (or '*') -> list of wamids Meta "returns", consumed in order
        self.phone_info = {
            "id": "106540352242922",
            "display_phone_number": "+56 2 2345 6789",
            "verified_name": "OFITEC",
            "quality_rating": "GREEN",
            "status": "CONNECTED",
        }

    def fail(self, number, *errors):
        """Queue errors for ``number``: each send to it consumes one."""
        self.errors.setdefault(number, []).extend(errors)

    def next_error(self, number):
        for key in (number, "*"):
            queue = self.errors.get(key)
            if queue:
                return queue.pop(0)
        return None

    def next_wamid(self, number):
        for key in (number, "*"):
            queue = self.wamids.get(key)
            if queue:
                return queue.pop(0)
        return None

    def sent_to(self, number):
        return [payload for payload in self.sent if payload["to"] == number]


def meta_error(code, title="Error", details=None, http_status=400):
    """The exception the real client raises for Meta error ``code``."""
    return make_error(code=code, title=title, details=details, http_status=http_status)


# Meta webhook payloads (spec A4) -----------------------------------------------
META_PHONE_NUMBER_ID = "106540352242922"  # the test config's number
META_WABA_ID = "102290129340398"


def meta_timestamp(at=None, **delta):
    """Unix seconds as Meta writes them (a string): ``at`` (naive UTC) or now,
    shifted by ``timedelta(**delta)``."""
    at = (at or fields.Datetime.now()) + timedelta(**delta)
    return str(int(at.replace(tzinfo=timezone.utc).timestamp()))


def meta_status(wamid, status, timestamp=None, recipient_id=None, callback_data=None, errors=None):
    """One ``statuses[]`` element. ``errors``: list of ``(code, title, details)``."""
    item = {"id": wamid, "status": status, "timestamp": timestamp or meta_timestamp()}
    if recipient_id:
        item["recipient_id"] = recipient_id
    if callback_data:
        item["biz_opaque_callback_data"] = callback_data
    if errors:
        item["errors"] = [
            {
                "code": code,
                "title": title,
                "message": title,
                "error_data": {"details": details},
            }
            for code, title, details in errors
        ]
    return item


def meta_message(
    wamid, sender, msg_type="text", timestamp=None, context_id=None, user_id=None, **content
):
    """One ``messages[]`` element from ``sender`` (wa_id digits, or None for a
    username user known only by ``user_id``, the BSUID)."""
    item = {"id": wamid, "timestamp": timestamp or meta_timestamp(), "type": msg_type}
    if sender:
        item["from"] = sender
    if user_id:
        item["from_user_id"] = user_id
    if context_id:
        item["context"] = {"from": "15550783881", "id": context_id}
    item[msg_type] = content
    return item


def meta_text(wamid, sender, body, **kwargs):
    return meta_message(wamid, sender, "text", body=body, **kwargs)


def meta_button(wamid, sender, payload, text, **kwargs):
    """A template quick-reply tap (``type: button``)."""
    return meta_message(wamid, sender, "button", payload=payload, text=text, **kwargs)


def meta_button_reply(wamid, sender, reply_id, title, **kwargs):
    """An interactive reply-button tap (``type: interactive``, ``button_reply``)."""
    return meta_message(
        wamid,
        sender,
        "interactive",
        type="button_reply",
        button_reply={"id": reply_id, "title": title},
        **kwargs,
    )


def meta_change(statuses=(), messages=(), phone_number_id=META_PHONE_NUMBER_ID, names=None):
    """One ``changes[]`` element of field ``messages``; ``contacts[]`` is derived
    from the senders (``names``: sender -> profile name)."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
    }
    contacts, seen = [], set()
    for message in messages:
        key = (message.get("from"), message.get("from_user_id"))
        if key in seen:
            continue
        seen.add(key)
        contact = {"profile": {"name": (names or {}).get(key[0] or key[1], "Usuario WhatsApp")}}
        if key[0]:
            contact["wa_id"] = key[0]
        if key[1]:
            contact["user_id"] = key[1]
        contacts.append(contact)
    if contacts:
        value["contacts"] = contacts
    if messages:
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {"field": "messages", "value": value}


def meta_payload(statuses=(), messages=(), changes=None, entries=None, **change_kwargs):
    """A whole webhook body (a dict): one entry with one change unless
    ``changes`` (list of meta_change) or ``entries`` (list of lists of changes)."""
    if entries is None:
        if changes is None:
            changes = [meta_change(statuses, messages, **change_kwargs)]
        entries = [changes]
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": META_WABA_ID, "changes": list(c)} for c in entries],
    }


def meta_body(payload, ensure_ascii=True):
    """The bytes Meta would send for ``payload`` (escaped unicode, no spaces)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=ensure_ascii).encode()


class WhatsAppMixin:
    """Set-up shared by WhatsAppCase and WhatsAppHttpCase: a company in Chile, a
    WhatsApp number, a project with a manager."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._network_patch = patch.object(requests.adapters.HTTPAdapter, "send", _guarded_send)
        cls._network_patch.start()
        cls.addClassCleanup(cls._network_patch.stop)

        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.company = cls.env.company
        cls.company.country_id = cls.env.ref("base.cl")
        # Other numbers (demo data) must not take part in the tests.
        cls.env["ofitec.whatsapp.config"].search([]).write({"active": False})
        cls.config = cls.env["ofitec.whatsapp.config"].create(
            {
                "name": "Test number",
                "phone_number_id": "106540352242922",
                "waba_id": "102290129340398",
                "access_token": "test-access-token",
                "app_secret": "test_app_secret",
                "verify_token": "test-verify-token",
                "company_id": cls.company.id,
            }
        )
        cls.user_manager = cls._create_user("pm", "Paula Manager", "+56 9 1111 1111")
        cls.user_assignee = cls._create_user("asg", "Andrés Asignado", "+56 9 2222 2222")
        cls.project = cls.env["project.project"].create(
            {"name": "Edificio Los Robles", "user_id": cls.user_manager.id}
        )

    @classmethod
    def _create_user(cls, login, name, mobile, groups=("base.group_user",), company=None):
        company = company or cls.company
        user = (
            cls.env["res.users"]
            .with_context(no_reset_password=True)
            .create(
                {
                    "login": f"{login}_{company.id}",
                    "name": name,
                    "email": f"{login}@example.com",
                    "company_id": company.id,
                    "company_ids": [(6, 0, company.ids)],
                    "groups_id": [(6, 0, [cls.env.ref(g).id for g in groups])],
                }
            )
        )
        user.partner_id.mobile = mobile
        return user

    def _create_action(self, **vals):
        values = {
            "name": "Revisar hormigonado losa piso 3",
            "description": "Resistencia bajo lo especificado.",
            "action_type": "urgent",
            "category": "quality",
            "priority": "1",
            "project_id": self.project.id,
            "user_id": self.user_assignee.id,
            "expected_benefits": "Evitar 2 semanas de atraso.",
        }
        values.update(vals)
        return self.env["ofitec.next.action"].create(values)

    def _messages(self, action=None, **domain):
        dom = [(key, "=", value) for key, value in domain.items()]
        if action is not None:
            dom.append(("next_action_id", "=", action.id))
        return self.env["ofitec.whatsapp.message"].search(dom, order="id")

    def _open_window(self, number, config=None, hours_ago=1):
        """Record an inbound message from ``number`` ``hours_ago`` hours ago."""
        config = config or self.config
        wa_id = number.lstrip("+")
        contact = self.env["ofitec.whatsapp.contact"].search(
            [("config_id", "=", config.id), ("wa_id", "=", wa_id)]
        )
        vals = {"last_inbound_at": fields.Datetime.now() - timedelta(hours=hours_ago)}
        if contact:
            contact.write(vals)
        else:
            contact = contact.create(dict(vals, config_id=config.id, wa_id=wa_id, phone=number))
        return contact

    @contextmanager
    def mock_whatsapp_gateway(self):
        gateway = FakeGateway()
        Config = type(self.env["ofitec.whatsapp.config"])
        with patch.object(Config, "_get_client", lambda config: FakeCloudClient(gateway, config)):
            yield gateway

    def _run_queue(self, **kwargs):
        """Drain the queue as the cron does (without commits: we are in a test)."""
        return self.env["ofitec.whatsapp.message"].sudo()._process_queue(**kwargs)

    def _make_due(self, messages):
        """Pretend the backoff delay of ``messages`` is over. The queue compares with the
        transaction's time (``now()``): a test's transaction may have begun long ago."""
        messages.sudo().write({"next_attempt": self.env.cr.now() - timedelta(seconds=1)})

    # Webhooks -------------------------------------------------------------
    def _deliver_webhook(self, payload, config=None):
        """Store ``payload`` (a dict or bytes) as the route does once the signature
        is checked; nothing is processed yet. Returns the event."""
        body = payload if isinstance(payload, bytes) else meta_body(payload)
        return self.env["ofitec.whatsapp.webhook.event"].sudo()._store(config or self.config, body)

    def _process_webhooks(self):
        """Run the webhook cron's job (without commits: we are in a test)."""
        return self.env["ofitec.whatsapp.webhook.event"].sudo()._process_pending()

    def _receive(self, payload, config=None):
        """Deliver ``payload`` and process it; returns the event."""
        event = self._deliver_webhook(payload, config)
        self._process_webhooks()
        return event

    # Assertions -----------------------------------------------------------
    def assertWhatsAppSent(self, gateway, number, kind=None, count=1):
        payloads = gateway.sent_to(number)
        self.assertEqual(
            len(payloads), count, f"{number}: expected {count} sends, got {len(payloads)}"
        )
        if kind:
            self.assertTrue(all(p["kind"] == kind for p in payloads), payloads)
        return payloads

    def assertNoWhatsApp(self, gateway):
        self.assertFalse(gateway.calls, f"unexpected WhatsApp calls: {gateway.calls}")

    def assertButtonsFor(self, payload, action):
        expected = [
            commands.make_button_payload(action.id, c)
            for c in (commands.CMD_OK, commands.CMD_COMPLETED, commands.CMD_CANCEL)
        ]
        self.assertEqual([b[0] for b in payload["buttons"]], expected)


class WhatsAppCase(WhatsAppMixin, common.TransactionCase):
    """Base class of the model tests."""


class WhatsAppHttpCase(WhatsAppMixin, common.HttpCase):
    """Base class of the route tests (post_install: routes need the full registry)."""

    def _webhook_url(self, config=None, config_id=None):
        return f"/webhooks/whatsapp/{config_id or (config or self.config).id}"

    def _post_webhook(self, body, signature=True, config=None, config_id=None, headers=None):
        """POST ``body`` (bytes, or a dict serialised as Meta does) to the webhook.

        ``signature``: True signs the exact bytes with the config's app secret,
        a string is sent as the header as is, None sends no header.
        """
        config = config or self.config
        if not isinstance(body, bytes) and not hasattr(body, "__next__"):
            body = meta_body(body)
        all_headers = {"Content-Type": "application/json"}
        if signature is True:
            signature = meta_signature_header(config.sudo().app_secret, body)
        if signature is not None:
            all_headers["X-Hub-Signature-256"] = signature
        all_headers.update(headers or {})
        # Not url_open: it turns a POST with an empty body into a GET.
        return self.opener.post(
            self.base_url() + self._webhook_url(config, config_id),
            data=body,
            headers=all_headers,
            timeout=60,
        )
