"""Shared vocabulary of the Odoo tests: the provider faked at the lowest seam.

``mock_whatsapp_gateway()`` keeps the real clients (built by the real
``ofitec.whatsapp.config._get_client()``) and replaces only ``requests``' transport
adapter with ``FakeGateway``, which answers as the provider would, records the JSON
on the wire and can be told to fail for a given number. Besides, every test class of
this module blocks real network access: any HTTP request to a host other than this
machine fails the test (the kill-switch ``_guarded_send``).
"""

import itertools
import json
import threading
from contextlib import contextmanager
from datetime import timedelta, timezone
from unittest.mock import patch
from urllib.parse import urlsplit

import requests

import odoo
from odoo import fields
from odoo.tests import common

from ..models import ofitec_whatsapp_message_send as send_loop
from ..models.ofitec_whatsapp_message_claim import Claim
from ..tools import cloud_api, commands, inbound_payloads
from ..tools.errors import (
    RetryableError,
    UncertainDeliveryError,
    WhatsAppError,
    make_error,
)
from ..tools.inbound_payloads import (  # noqa: F401 (the tests' vocabulary)
    meta_body,
    meta_button,
    meta_button_reply,
    meta_message,
    meta_status,
    meta_text,
)
from ..tools.phone import is_bsuid
from ..tools.signature import meta_signature_header

_wamid_counter = itertools.count(1)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


def claim_held(Message, size=1):
    """Claim up to ``size`` due messages as a send cycle does (``_claim_due``) and keep
    their rows locked: a worker between its claim and its sends, whose rows others skip."""
    return Message._claim_due(size, cap=size).messages


def send_held(message):
    """Send one held message as the send loop does, at its slot of its number's pace
    (the pace locked, waiting for a worker that books the number right now), and record
    the outcome on it."""
    step = message._prepare_send({})
    if not step:
        return
    base = send_loop._monotonic()
    Pace = message.env["ofitec.whatsapp.send.pace"]
    claim = Claim(messages=message.browse(), now=Pace._now())
    config = message.config_id.sudo()
    if config.active and config.rate_limit > 0:
        tat = Pace._lock([config.id], wait=True)[config.id]
        claim.paces[config.id] = (tat, config.rate_limit)
    (slot,) = message._book_slots(claim, [(message, step)])
    step = message._schedule_step(message, step, base + slot - claim.now, claim)
    message._finish_send(step, send_loop._call(step))


@contextmanager
def forms_parsed():
    """The paths of the requests whose parameters (a form body's fields among them)
    Odoo parsed meanwhile, in the test server's threads too (one process)."""
    paths = []
    parse = odoo.http.Request.get_http_params

    def spy(http_request):
        paths.append(http_request.httprequest.path)
        return parse(http_request)

    with patch.object(odoo.http.Request, "get_http_params", spy):
        yield paths


class RealNetworkCall(AssertionError):
    pass


_original_adapter_send = requests.adapters.HTTPAdapter.send


def _guarded_send(adapter, request, *args, **kwargs):
    host = requests.utils.urlparse(request.url).hostname or ""
    if host not in LOCAL_HOSTS:
        raise RealNetworkCall(f"A test tried to reach {host}: the network must be faked.")
    return _original_adapter_send(adapter, request, *args, **kwargs)


def _response(request, status, body):
    """A ``requests.Response`` as a transport adapter returns it."""
    response = requests.Response()
    response.status_code = status
    response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response.headers["Content-Type"] = "application/json"
    response.url = request.url
    response.request = request
    response.encoding = "utf-8"
    return response


def summarise_meta_payload(body):
    """A provider-neutral summary of a Meta send payload (the JSON on the wire):
    ``kind`` (text / interactive / template), ``body``, ``buttons`` [(payload, title)],
    ``name``, ``language``, ``params``, ``button_payloads``, ``callback``."""
    kind = body.get("type")
    content = body.get(kind) or {}
    summary = {"kind": kind, "callback": body.get("biz_opaque_callback_data")}
    if kind == "text":
        summary["body"] = content.get("body")
        summary["context_message_id"] = (body.get("context") or {}).get("message_id")
    elif kind == "interactive":
        summary["body"] = content["body"]["text"]
        summary["buttons"] = [
            (button["reply"]["id"], button["reply"]["title"])
            for button in content["action"]["buttons"]
        ]
    elif kind == "template":
        components = content.get("components", [])
        summary["name"] = content.get("name")
        summary["language"] = content["language"]["code"]
        summary["params"] = [
            param["text"]
            for component in components
            if component["type"] == "body"
            for param in component["parameters"]
        ]
        summary["button_payloads"] = [
            component["parameters"][0]["payload"]
            for component in components
            if component["type"] == "button"
        ]
    return summary


class FakeGateway:
    """The provider's servers, faked at the lowest seam: ``requests``' transport adapter.

    Within ``mock_whatsapp_gateway()`` the real client of each number (built by the
    real ``config._get_client()``) sends real HTTP requests through a real
    ``requests.Session``; only ``HTTPAdapter.send`` is replaced, so every payload
    builder and every error mapping of the client runs. Requests to a provider host
    are answered here (``handlers``: host -> method); local hosts go through; any
    other host fails the test (``RealNetworkCall``).

    What is recorded, for assertions: ``calls`` (every send attempt, failed or not),
    ``sent`` (accepted sends), each a provider-neutral summary (see
    :func:`summarise_meta_payload`) plus ``to`` and ``wire`` (the JSON on the wire);
    ``clients`` (config id of each client built). ``fail(number, *errors)`` makes the
    next sends to ``number`` (or ``'*'``: any) answer with the given error, as the
    provider would put it on the wire. Thread-safe: the queue sends from worker threads.

    Another provider adds its host to ``handlers`` and its own summary of the wire.
    """

    def __init__(self):
        self.lock = threading.Lock()
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
        self.templates = []  # what GET /{waba}/message_templates lists
        self.handlers = {urlsplit(cloud_api.DEFAULT_BASE_URL).hostname: self._meta}

    def fail(self, number, *errors):
        """Queue errors for ``number``: each send to it consumes one."""
        with self.lock:
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

    # The transport ----------------------------------------------------------
    def adapter_send(self, adapter, request, *args, **kwargs):
        host = urlsplit(request.url).hostname or ""
        handler = self.handlers.get(host)
        if handler is None:
            return _guarded_send(adapter, request, *args, **kwargs)
        return handler(request)

    def _meta(self, request):
        path = urlsplit(request.url).path
        body = json.loads(request.body) if request.body else {}
        if request.method == "POST" and path.endswith("/messages"):
            return self._meta_send(request, body)
        kind = "list_templates" if path.endswith("/message_templates") else "get_phone_number"
        with self.lock:
            self.calls.append({"kind": kind})
            error = self.next_error("*")
        if error is not None:
            return self._meta_error(request, error)
        if kind == "list_templates":
            return _response(request, 200, {"data": list(self.templates)})
        return _response(request, 200, dict(self.phone_info))

    def _meta_send(self, request, body):
        to = body.get("to") or body.get("recipient")
        summary = dict(summarise_meta_payload(body), to=to, wire=body)
        with self.lock:
            self.calls.append(summary)
            error = self.next_error(to)
            if error is None:
                wamid = self.next_wamid(to) or f"wamid.TEST{next(_wamid_counter):06d}"
                self.sent.append(dict(summary, wamid=wamid))
        if error is not None:
            return self._meta_error(request, error)
        contact = {"input": to}
        if is_bsuid(to):  # sent to a BSUID: Meta answers with the user id only
            contact["user_id"] = to
        else:
            contact["wa_id"] = self.wa_ids.get(to) or to.lstrip("+")
        answer = {"messaging_product": "whatsapp", "contacts": [contact]}
        answer["messages"] = [{"id": wamid}]
        return _response(request, 200, answer)

    def _meta_error(self, request, error):
        """Put ``error`` on the wire as Meta (or the network) would."""
        if not isinstance(error, WhatsAppError):
            raise error  # a bug below the client: let it surface as is
        if error.code is None:
            if isinstance(error, UncertainDeliveryError):
                raise requests.exceptions.ReadTimeout("Read timed out. (read timeout=30)")
            if isinstance(error, RetryableError):
                raise requests.exceptions.ConnectionError("Connection refused")
            return _response(request, error.http_status or 400, b"<html>error</html>")
        envelope = {"message": error.title, "type": "OAuthException", "code": error.code}
        if error.details:
            envelope["error_data"] = {"details": error.details}
        envelope["fbtrace_id"] = "AtestTrace"
        return _response(request, error.http_status or 400, {"error": envelope})


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


def meta_change(statuses=(), messages=(), phone_number_id=META_PHONE_NUMBER_ID, names=None):
    """One ``changes[]`` element for the test number (see tools.inbound_payloads)."""
    return inbound_payloads.meta_change(statuses, messages, phone_number_id, names)


def meta_payload(statuses=(), messages=(), changes=None, entries=None, **change_kwargs):
    """A whole webhook body for the test account (see tools.inbound_payloads)."""
    change_kwargs.setdefault("phone_number_id", META_PHONE_NUMBER_ID)
    return inbound_payloads.meta_payload(
        statuses, messages, changes, entries, waba_id=META_WABA_ID, **change_kwargs
    )


class WhatsAppMixin:
    """Set-up shared by WhatsAppCase and WhatsAppHttpCase: a company in Chile, a
    WhatsApp number, a project with a manager."""

    # -- real transactions, for the concurrency tests --------------------------------
    def _cursor(self):
        """A real cursor on a connection of its own (not the test's cursor): what it
        commits, other transactions see, so the test deletes it afterwards."""
        return odoo.sql_db.db_connect(self.env.cr.dbname).cursor()

    @staticmethod
    def _last_trigger_id(cr):
        cr.execute("SELECT COALESCE(MAX(id), 0) FROM ir_cron_trigger")
        return cr.fetchone()[0]

    @staticmethod
    def _delete_triggers_since(cr, trigger_id, cron_ids):
        """Delete the wake-ups of ``cron_ids`` committed after ``trigger_id``."""
        cr.execute(
            "DELETE FROM ir_cron_trigger WHERE id > %s AND cron_id = ANY(%s)",
            (trigger_id, list(cron_ids)),
        )

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
        # Only an approved template is sent: these tests start from approved ones.
        cls.env["ofitec.whatsapp.template"].search([]).write({"meta_status": "APPROVED"})
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

    def _create_action(self, notify=True, **vals):
        """Create an action as a user does; with ``notify``, then run the notification
        cron's job, as it runs right after the user's commit."""
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
        action = self.env["ofitec.next.action"].create(values)
        if notify:
            self._run_notify()
        return action

    def _run_notify(self):
        """Queue the pending actions' notifications as the cron does (no commits)."""
        return self.env["ofitec.next.action"].sudo()._whatsapp_process_pending()

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
        """Fake the provider's servers under the real clients (see FakeGateway)."""
        gateway = FakeGateway()
        Config = type(self.env["ofitec.whatsapp.config"])
        build_client = Config._get_client

        def get_client(config):  # a spy: the real factory builds the real client
            gateway.clients.append(config.id)
            return build_client(config)

        def adapter_send(adapter, request, *args, **kwargs):  # becomes HTTPAdapter.send
            return gateway.adapter_send(adapter, request, *args, **kwargs)

        with (
            patch.object(Config, "_get_client", get_client),
            patch.object(requests.adapters.HTTPAdapter, "send", adapter_send),
        ):
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
