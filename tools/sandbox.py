"""Test mode's "Simulate reply": the webhook a person's reply would cause.

A number in test mode sends nothing; to see a reply come back, the sandbox builds the
webhook the provider would post when the person answers one of our messages, signs it
as the provider signs it (Meta: ``X-Hub-Signature-256`` with the app secret; Twilio:
``X-Twilio-Signature`` by the official SDK's ``RequestValidator`` with the Auth Token,
over the Webhook URL and every form parameter) and posts it to the number's own
Webhook URL, so the real path runs: signature check, webhook log, processing, reply
routing.

* :func:`meta_reply_request` / :func:`twilio_reply_request` return a
  :class:`SimulatedRequest` (URL, body bytes, headers, the new inbound message id).
* :func:`post` sends it (a timeout, no redirects followed) and returns the HTTP status;
  :class:`WebhookUnreachable` carries the :data:`.network.CAUSES` code otherwise.
* :func:`probe` checks that something listens at the URL's host and port.

What the person does depends on what they saw (``kind``, our message's type): a
template's quick-reply button (``type: button``), an interactive reply button
(``type: interactive``), or a typed text. Every simulated reply quotes our message
(``context.id`` / ``OriginalRepliedMessageSid``), as a tap always does and as a typed
reply does when the person swipes to answer.
"""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

import requests
from twilio.request_validator import RequestValidator

from . import inbound_payloads
from .network import network_cause
from .signature import SIGNATURE_HEADER, meta_signature_header
from .twilio_webhook import SIGNATURE_HEADER as TWILIO_SIGNATURE_HEADER
from .twilio_webhook import FormParams

__all__ = [
    "SimulatedRequest",
    "WebhookUnreachable",
    "meta_reply_request",
    "post",
    "probe",
    "twilio_reply_request",
]

POST_TIMEOUT = (5, 30)  # connect, read (seconds)
PROBE_TIMEOUT = 3


@dataclass(frozen=True)
class SimulatedRequest:
    """A signed webhook POST, ready to send. ``message_id``: the id the provider gave
    the simulated inbound message (unique, so it is never taken for a redelivery)."""

    url: str
    body: bytes
    message_id: str
    headers: dict = field(default_factory=dict)


class WebhookUnreachable(Exception):
    """The Webhook URL gave no HTTP answer; ``cause`` is a :data:`.network.CAUSES` code."""

    def __init__(self, url, cause):
        super().__init__(f"{url}: {cause}")
        self.url = url
        self.cause = cause


def meta_reply_request(
    url,
    app_secret,
    *,
    reply_to,
    kind,
    text,
    button_payload=None,
    sender=None,
    user_id=None,
    profile_name="Usuario WhatsApp",
    phone_number_id=None,
    waba_id=None,
    display_phone_number=None,
    timestamp=None,
):
    """The Cloud API webhook of a reply to our message ``reply_to`` (its wamid), from
    ``sender`` (wa_id digits) or ``user_id`` (a BSUID), signed with ``app_secret``."""
    wamid = "wamid.SIMULATED" + uuid.uuid4().hex.upper()
    common = {
        "context_id": reply_to,
        "user_id": user_id,
        "timestamp": inbound_payloads.unix_timestamp(timestamp),
        "context_from": display_phone_number or inbound_payloads.DEFAULT_DISPLAY_NUMBER,
    }
    message = _meta_message(wamid, sender, kind, text, button_payload, common)
    change = inbound_payloads.meta_change(
        messages=[message],
        phone_number_id=phone_number_id,
        names={sender or user_id: profile_name},
        display_phone_number=display_phone_number or inbound_payloads.DEFAULT_DISPLAY_NUMBER,
    )
    payload = inbound_payloads.meta_payload(changes=[change], waba_id=waba_id or "0")
    body = inbound_payloads.meta_body(payload)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: meta_signature_header(app_secret, body),
    }
    return SimulatedRequest(url=url, body=body, message_id=wamid, headers=headers)


def _meta_message(wamid, sender, kind, text, button_payload, common):
    """The message the person's gesture makes: a template's quick-reply button, an
    interactive reply button, or a typed text (``common``: its context and timestamp)."""
    if button_payload and kind == "template":
        return inbound_payloads.meta_button(wamid, sender, button_payload, text, **common)
    if button_payload and kind == "interactive":
        return inbound_payloads.meta_button_reply(wamid, sender, button_payload, text, **common)
    return inbound_payloads.meta_text(wamid, sender, text, **common)


def twilio_reply_request(
    url,
    auth_token,
    *,
    reply_to,
    text,
    sender,
    account_sid,
    twilio_from,
    button_payload=None,
    profile_name="Usuario WhatsApp",
):
    """Twilio's form-encoded webhook of a reply from ``sender`` (``+E164``) to our
    message ``reply_to`` (its SID), signed by the SDK's ``RequestValidator``."""
    sid = "SM" + uuid.uuid4().hex
    pairs = inbound_payloads.twilio_inbound_form(
        sid,
        sender,
        text,
        account_sid,
        twilio_from,
        button_payload=button_payload,
        replied_sid=reply_to,
        name=profile_name,
    )
    signature = RequestValidator(auth_token).compute_signature(url, FormParams(pairs))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        TWILIO_SIGNATURE_HEADER: signature,
    }
    return SimulatedRequest(
        url=url, body=urlencode(pairs).encode(), message_id=sid, headers=headers
    )


def post(request, session=None, timeout=POST_TIMEOUT):
    """POST ``request``; returns ``(status, location)`` (``location``: where a redirect
    points, else None). Redirects are not followed: they would turn the POST into a
    GET. Raises :class:`WebhookUnreachable` when no HTTP answer came."""
    session = session or requests.Session()
    try:
        response = session.post(
            request.url,
            data=request.body,
            headers=request.headers,
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.RequestException as error:
        raise WebhookUnreachable(request.url, network_cause(error)) from None
    return response.status_code, response.headers.get("Location")


def probe(url, timeout=PROBE_TIMEOUT):
    """None when a TCP connection to ``url``'s host and port opens, else the
    :data:`.network.CAUSES` code of why not. Sends nothing over the connection."""
    try:
        parts = urlsplit(url or "")
        host, port = parts.hostname, parts.port
    except ValueError:
        return "invalid_url"
    if parts.scheme not in ("http", "https") or not host:
        return "invalid_url"
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except TimeoutError:
        return "connect_timeout"
    except OSError as error:
        return network_cause(error)
