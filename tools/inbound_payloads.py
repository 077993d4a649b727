"""The webhooks a provider sends us, built as the provider builds them (spec A4, B2).

One home for the wire format of what comes in: the Odoo tests build their webhooks
with these functions, and test mode's "Simulate reply" (:mod:`.sandbox`) builds the
reply it posts to the number's own Webhook URL with them too.

* Meta: ``meta_status`` / ``meta_message`` (and ``meta_text``, ``meta_button``,
  ``meta_button_reply``) build one item; ``meta_change`` wraps items in a
  ``changes[]`` element (``contacts[]`` derived from the senders); ``meta_payload``
  a whole body (a dict); ``meta_body`` the bytes Meta sends (escaped unicode, no
  spaces), which is what the signature covers.
* Twilio: ``twilio_inbound_form`` the form pairs of an inbound WhatsApp message.
"""

from __future__ import annotations

import json
import time

__all__ = [
    "meta_body",
    "meta_button",
    "meta_button_reply",
    "meta_change",
    "meta_message",
    "meta_payload",
    "meta_status",
    "meta_text",
    "twilio_inbound_form",
    "unix_timestamp",
]

DEFAULT_DISPLAY_NUMBER = "15550783881"


def unix_timestamp(seconds=None):
    """Unix seconds as Meta writes them (a string); now when ``seconds`` is None."""
    return str(int(time.time() if seconds is None else seconds))


def meta_status(wamid, status, timestamp=None, recipient_id=None, callback_data=None, errors=None):
    """One ``statuses[]`` element. ``errors``: list of ``(code, title, details)``."""
    item = {"id": wamid, "status": status, "timestamp": timestamp or unix_timestamp()}
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
    wamid,
    sender,
    msg_type="text",
    timestamp=None,
    context_id=None,
    user_id=None,
    context_from=DEFAULT_DISPLAY_NUMBER,
    **content,
):
    """One ``messages[]`` element from ``sender`` (wa_id digits, or None for a
    username user known only by ``user_id``, the BSUID). ``context_id``: the wamid
    of our message this one answers (a button tap or a quoted reply)."""
    item = {"id": wamid, "timestamp": timestamp or unix_timestamp(), "type": msg_type}
    if sender:
        item["from"] = sender
    if user_id:
        item["from_user_id"] = user_id
    if context_id:
        item["context"] = {"from": context_from, "id": context_id}
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


def meta_change(
    statuses=(),
    messages=(),
    phone_number_id=None,
    names=None,
    display_phone_number=DEFAULT_DISPLAY_NUMBER,
):
    """One ``changes[]`` element of field ``messages``; ``contacts[]`` is derived
    from the senders (``names``: sender -> profile name)."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": display_phone_number,
            "phone_number_id": phone_number_id or "",
        },
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


def meta_payload(
    statuses=(), messages=(), changes=None, entries=None, waba_id="0", **change_kwargs
):
    """A whole webhook body (a dict): one entry with one change unless
    ``changes`` (list of meta_change) or ``entries`` (list of lists of changes)."""
    if entries is None:
        if changes is None:
            changes = [meta_change(statuses, messages, **change_kwargs)]
        entries = [changes]
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba_id, "changes": list(c)} for c in entries],
    }


def meta_body(payload, ensure_ascii=True):
    """The bytes Meta would send for ``payload`` (escaped unicode, no spaces)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=ensure_ascii).encode()


def twilio_inbound_form(
    sid,
    sender,
    body,
    account_sid,
    twilio_from,
    button_payload=None,
    replied_sid=None,
    name="Ana",
):
    """An inbound WhatsApp message from ``sender`` (``+E164``) to ``twilio_from``
    (``whatsapp:+E164``), as Twilio posts it: a list of form pairs."""
    pairs = [
        ("SmsMessageSid", sid),
        ("MessageSid", sid),
        ("SmsSid", sid),
        ("AccountSid", account_sid),
        ("From", f"whatsapp:{sender}"),
        ("To", twilio_from),
        ("Body", body),
        ("NumMedia", "0"),
        ("NumSegments", "1"),
        ("SmsStatus", "received"),
        ("ProfileName", name),
        ("WaId", sender.lstrip("+")),
        ("ApiVersion", "2010-04-01"),
        ("MessageType", "button" if button_payload else "text"),
    ]
    if button_payload:
        pairs += [("ButtonPayload", button_payload), ("ButtonText", body)]
    if replied_sid:
        pairs += [
            ("OriginalRepliedMessageSid", replied_sid),
            ("OriginalRepliedMessageSender", twilio_from),
        ]
    return pairs
