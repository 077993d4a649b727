"""Parse Meta webhook payloads (spec A4) into small dataclasses.

:func:`parse_meta_payload` takes the already-decoded JSON (a dict) of one POST.

* A wrongly shaped *envelope* (``object``, ``entry[]``, ``changes[]``, ``field``,
  ``value``) raises :class:`WebhookPayloadError` whose message names the path,
  e.g. ``entry[0].changes[1].value must be an object``.
* An ``object`` other than ``whatsapp_business_account`` is not an error:
  the result has ``ignored_object=True`` and nothing else.
* A bad individual item (message without id, non-numeric timestamp, item not
  an object, ...) is recorded in ``invalid_items`` as ``(path, reason)`` and
  every other item is still parsed.
* Every element of every array is processed: several entries, changes,
  messages and statuses in one POST.

Change fields handled: ``messages`` (messages, statuses, value-level errors,
contacts) and ``message_template_status_update``. Other fields are kept in
``other_changes`` as ``(field, value)`` and otherwise ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "WHATSAPP_OBJECT",
    "Contact",
    "ErrorInfo",
    "InboundMessage",
    "OutOfBandError",
    "ParsedWebhook",
    "StatusUpdate",
    "TemplateStatusUpdate",
    "WebhookPayloadError",
    "parse_meta_payload",
]

WHATSAPP_OBJECT = "whatsapp_business_account"


MEDIA_TYPES = ("image", "document", "audio", "video", "sticker")


class WebhookPayloadError(ValueError):
    """The payload does not have the shape of a Meta webhook envelope."""


#: What a Meta webhook body looks like, for error answers ("say what was expected").
EXPECTED_SHAPE = (
    '{"object": "whatsapp_business_account", "entry": [{"id": "<WABA id>", "changes": '
    '[{"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": {...}, '
    '"messages": [...] or "statuses": [...]}}]}]}'
)


# --------------------------------------------------------------------------
# Dataclasses
# --------------------------------------------------------------------------


@dataclass
class ErrorInfo:
    """One element of an ``errors[]`` array (statuses, messages, value)."""

    code: int | None
    title: str | None = None
    message: str | None = None
    details: str | None = None
    href: str | None = None

    def __str__(self):
        text = f"(#{self.code}) " if self.code is not None else ""
        text += self.title or self.message or "error"
        if self.details:
            text += f": {self.details}"
        return text


@dataclass
class Contact:
    """One element of ``value.contacts[]`` (sender or, since 2026, recipient)."""

    phone_number_id: str | None
    waba_id: str | None
    wa_id: str | None = None
    user_id: str | None = None
    parent_user_id: str | None = None
    profile_name: str | None = None
    username: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass
class InboundMessage:
    """One element of ``value.messages[]``.

    ``text`` is what the user sees: text body, template button label,
    interactive reply title, media caption, location name, reaction emoji,
    system notice, names of shared contacts, order note. ``payload`` is the
    machine value of a tap: template button payload or interactive reply id.
    """

    phone_number_id: str | None
    display_phone_number: str | None
    waba_id: str | None
    wamid: str
    timestamp: int
    type: str
    from_wa_id: str | None = None
    from_user_id: str | None = None
    from_parent_user_id: str | None = None
    profile_name: str | None = None
    profile_username: str | None = None
    text: str | None = None
    payload: str | None = None
    interactive_type: str | None = None
    context_id: str | None = None
    context_from: str | None = None
    forwarded: bool = False
    reaction_message_id: str | None = None
    media_id: str | None = None
    media_mime_type: str | None = None
    media_sha256: str | None = None
    media_filename: str | None = None
    media_url: str | None = None
    media_voice: bool = False
    latitude: float | None = None
    longitude: float | None = None
    location_address: str | None = None
    location_url: str | None = None
    system_type: str | None = None
    new_wa_id: str | None = None
    new_user_id: str | None = None
    unsupported_type: str | None = None
    group_id: str | None = None
    errors: list[ErrorInfo] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def sender_key(self):
        """BSUID when present, else the wa_id (how to match a sender, spec A10.4)."""
        return self.from_user_id or self.from_wa_id

    @property
    def is_reaction_removal(self):
        return self.type == "reaction" and not self.text

    @property
    def is_media(self):
        return self.type in MEDIA_TYPES


@dataclass
class StatusUpdate:
    """One element of ``value.statuses[]`` (spec A4.6)."""

    phone_number_id: str | None
    waba_id: str | None
    wamid: str
    status: str
    timestamp: int
    recipient_id: str | None = None
    recipient_user_id: str | None = None
    callback_data: str | None = None
    pricing_category: str | None = None
    errors: list[ErrorInfo] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def error(self):
        """The first error, or None."""
        return self.errors[0] if self.errors else None


@dataclass
class TemplateStatusUpdate:
    """A ``message_template_status_update`` change (spec A4.7)."""

    waba_id: str | None
    event: str
    message_template_id: str
    message_template_name: str | None = None
    message_template_language: str | None = None
    reason: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass
class OutOfBandError:
    """``value.errors[]``: an error not tied to a message (spec A4.2)."""

    phone_number_id: str | None
    waba_id: str | None
    error: ErrorInfo


@dataclass
class ParsedWebhook:
    object: str | None = None
    ignored_object: bool = False
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    errors: list[OutOfBandError] = field(default_factory=list)
    template_updates: list[TemplateStatusUpdate] = field(default_factory=list)
    other_changes: list[tuple[str, Any]] = field(default_factory=list)
    invalid_items: list[tuple[str, str]] = field(default_factory=list)

    @property
    def sender_key(self):
        """Whom the inbound messages are from, to keep each sender's webhooks in order:
        the sender's WhatsApp id (its user id when it has none), ``"*"`` when they come
        from several senders, None when there is no message."""
        senders = {m.from_wa_id or m.from_user_id or "" for m in self.messages}
        if not senders:
            return None
        return senders.pop() if len(senders) == 1 else "*"

    @property
    def phone_number_ids(self):
        """The business numbers this payload concerns (for routing)."""
        ids = {item.phone_number_id for item in self.messages}
        ids.update(item.phone_number_id for item in self.statuses)
        ids.update(item.phone_number_id for item in self.errors)
        ids.discard(None)
        return ids


# --------------------------------------------------------------------------
# Small coercion helpers
# --------------------------------------------------------------------------


class _ItemError(Exception):
    """A single item is unusable: recorded in ``invalid_items``."""


def _str(value):
    """Text of an id-like value (str or int); None when empty / other type."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, str)):
        text = str(value).strip()
        return text or None
    return None


def _text(value):
    """A human text value as is (not stripped); None when not a string."""
    return value if isinstance(value, str) else None


def _dict(value):
    return value if isinstance(value, dict) else {}


def _float(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _timestamp(value):
    if isinstance(value, bool):
        raise _ItemError("timestamp must be Unix seconds")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if value is None:
        raise _ItemError("missing timestamp")
    raise _ItemError(f"timestamp is not numeric: {value!r}"[:120])


def _error_infos(errors):
    result = []
    if not isinstance(errors, list):
        return result
    for error in errors:
        if not isinstance(error, dict):
            continue
        code = error.get("code")
        if isinstance(code, str) and code.strip().isdigit():
            code = int(code)
        if isinstance(code, bool) or not isinstance(code, int):
            code = None
        result.append(
            ErrorInfo(
                code=code,
                title=_text(error.get("title")),
                message=_text(error.get("message")),
                details=_text(_dict(error.get("error_data")).get("details")),
                href=_text(error.get("href")),
            )
        )
    return result


# --------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------


def parse_meta_payload(data):
    """Parse one decoded webhook POST body into a :class:`ParsedWebhook`."""
    if not isinstance(data, dict):
        raise WebhookPayloadError("the payload must be a JSON object")
    obj = data.get("object")
    if not isinstance(obj, str):
        raise WebhookPayloadError("object must be a string")
    result = ParsedWebhook(object=obj)
    if obj != WHATSAPP_OBJECT:
        result.ignored_object = True
        return result
    entries = data.get("entry")
    if not isinstance(entries, list):
        raise WebhookPayloadError("entry must be a list")
    for entry_index, entry in enumerate(entries):
        entry_path = f"entry[{entry_index}]"
        if not isinstance(entry, dict):
            raise WebhookPayloadError(f"{entry_path} must be an object")
        waba_id = _str(entry.get("id"))
        changes = entry.get("changes")
        if not isinstance(changes, list):
            raise WebhookPayloadError(f"{entry_path}.changes must be a list")
        for change_index, change in enumerate(changes):
            change_path = f"{entry_path}.changes[{change_index}]"
            if not isinstance(change, dict):
                raise WebhookPayloadError(f"{change_path} must be an object")
            field_name = change.get("field")
            if not isinstance(field_name, str):
                raise WebhookPayloadError(f"{change_path}.field must be a string")
            value = change.get("value")
            if not isinstance(value, dict):
                raise WebhookPayloadError(f"{change_path}.value must be an object")
            value_path = f"{change_path}.value"
            if field_name == "messages":
                _parse_messages_value(result, value, waba_id, value_path)
            elif field_name == "message_template_status_update":
                _parse_template_update(result, value, waba_id, value_path)
            else:
                result.other_changes.append((field_name, value))
    return result


def _items(result, value, key, path):
    """Yield ``(path, item)`` for the dicts of ``value[key]``; record the rest."""
    items = value.get(key)
    if items is None:
        return
    if not isinstance(items, list):
        result.invalid_items.append((f"{path}.{key}", "must be a list"))
        return
    for index, item in enumerate(items):
        item_path = f"{path}.{key}[{index}]"
        if not isinstance(item, dict):
            result.invalid_items.append((item_path, "must be an object"))
            continue
        yield item_path, item


def _parse_messages_value(result, value, waba_id, path):
    metadata = _dict(value.get("metadata"))
    phone_number_id = _str(metadata.get("phone_number_id"))
    display_phone_number = _str(metadata.get("display_phone_number"))
    contacts = _parse_contacts(result, value, path, phone_number_id, waba_id)
    result.contacts.extend(contacts)
    _collect(
        result,
        _items(result, value, "messages", path),
        result.messages,
        lambda item: _parse_message(item, phone_number_id, display_phone_number, waba_id, contacts),
    )
    _collect(
        result,
        _items(result, value, "statuses", path),
        result.statuses,
        lambda item: _parse_status(item, phone_number_id, waba_id),
    )
    errors = value.get("errors")
    if errors is not None and not isinstance(errors, list):
        result.invalid_items.append((f"{path}.errors", "must be a list"))
    for error in _error_infos(errors):
        result.errors.append(OutOfBandError(phone_number_id, waba_id, error))


def _parse_contacts(result, value, path, phone_number_id, waba_id):
    """The ``contacts`` of a messages value: who wrote (wa_id, BSUID, profile)."""
    contacts = []
    for _item_path, item in _items(result, value, "contacts", path):
        profile = _dict(item.get("profile"))
        contacts.append(
            Contact(
                phone_number_id=phone_number_id,
                waba_id=waba_id,
                wa_id=_str(item.get("wa_id")),
                user_id=_str(item.get("user_id")),
                parent_user_id=_str(item.get("parent_user_id")),
                profile_name=_text(profile.get("name")),
                username=_text(profile.get("username")),
                raw=item,
            )
        )
    return contacts


def _collect(result, items, into, parse):
    """``parse`` each of ``items`` (``(path, item)``) into the list ``into``; an item
    it refuses (``_ItemError``) goes to ``result.invalid_items`` and never stops the
    others."""
    for item_path, item in items:
        try:
            parsed = parse(item)
        except _ItemError as exc:
            result.invalid_items.append((item_path, str(exc)))
            continue
        into.append(parsed)


def _match_contact(contacts, wa_id, user_id):
    for contact in contacts:
        if user_id and contact.user_id == user_id:
            return contact
    for contact in contacts:
        if wa_id and contact.wa_id == wa_id:
            return contact
    # Meta: the contact's wa_id "may not match" ``from`` (Brazil, Mexico); with
    # a single contact in the change there is no ambiguity.
    if len(contacts) == 1:
        return contacts[0]
    return None


def _parse_message(item, phone_number_id, display_phone_number, waba_id, contacts):
    wamid = _str(item.get("id"))
    if not wamid:
        raise _ItemError("missing message id")
    timestamp = _timestamp(item.get("timestamp"))
    from_wa_id = _str(item.get("from"))
    from_user_id = _str(item.get("from_user_id"))
    if not from_wa_id and not from_user_id:
        raise _ItemError("missing sender (neither from nor from_user_id)")
    msg_type = _str(item.get("type")) or "unknown"
    contact = _match_contact(contacts, from_wa_id, from_user_id)
    context = _dict(item.get("context"))
    message = InboundMessage(
        phone_number_id=phone_number_id,
        display_phone_number=display_phone_number,
        waba_id=waba_id,
        wamid=wamid,
        timestamp=timestamp,
        type=msg_type,
        from_wa_id=from_wa_id,
        from_user_id=from_user_id,
        from_parent_user_id=_str(item.get("from_parent_user_id")),
        profile_name=contact.profile_name if contact else None,
        profile_username=contact.username if contact else None,
        context_id=_str(context.get("id")),
        context_from=_str(context.get("from")),
        forwarded=bool(context.get("forwarded") or context.get("frequently_forwarded")),
        group_id=_str(item.get("group_id")),
        errors=_error_infos(item.get("errors")),
        raw=item,
    )
    parser = _TYPE_PARSERS.get(msg_type)
    if parser is not None:
        parser(message, _dict(item.get(msg_type)))
    return message


def _parse_text(message, content):
    message.text = _text(content.get("body"))


def _parse_button(message, content):
    message.text = _text(content.get("text"))
    message.payload = _text(content.get("payload"))


def _parse_interactive(message, content):
    itype = _str(content.get("type"))
    message.interactive_type = itype
    if itype in ("button_reply", "list_reply"):
        reply = _dict(content.get(itype))
        message.payload = _str(reply.get("id"))
        message.text = _text(reply.get("title"))
    elif itype == "nfm_reply":  # WhatsApp Flows answer
        reply = _dict(content.get(itype))
        message.payload = _text(reply.get("response_json"))
        message.text = _text(reply.get("body"))
    # Other interactive types: kept in ``raw`` only.


def _parse_reaction(message, content):
    message.reaction_message_id = _str(content.get("message_id"))
    message.text = _text(content.get("emoji")) or None


def _parse_media(message, content):
    message.media_id = _str(content.get("id"))
    message.media_mime_type = _text(content.get("mime_type"))
    message.media_sha256 = _text(content.get("sha256"))
    message.media_filename = _text(content.get("filename"))
    message.media_url = _text(content.get("url"))
    message.media_voice = content.get("voice") is True
    message.text = _text(content.get("caption"))


def _parse_location(message, content):
    message.latitude = _float(content.get("latitude"))
    message.longitude = _float(content.get("longitude"))
    message.text = _text(content.get("name"))
    message.location_address = _text(content.get("address"))
    message.location_url = _text(content.get("url"))


def _parse_system(message, content):
    message.system_type = _str(content.get("type"))
    message.text = _text(content.get("body"))
    message.new_wa_id = _str(content.get("new_wa_id")) or _str(content.get("wa_id"))
    message.new_user_id = _str(content.get("new_user_id")) or _str(content.get("user_id"))


def _parse_unsupported(message, content):
    message.unsupported_type = _str(content.get("type"))


def _parse_order(message, content):
    message.text = _text(content.get("text"))


def _parse_contacts_list(message, _content):
    # ``contacts`` messages carry a list, not an object: read it from raw.
    shared = message.raw.get("contacts")
    names = []
    if isinstance(shared, list):
        for card in shared:
            name = _dict(_dict(card).get("name"))
            label = _text(name.get("formatted_name")) or _text(name.get("first_name"))
            if label:
                names.append(label)
    message.text = ", ".join(names) or None


_TYPE_PARSERS = {
    "text": _parse_text,
    "button": _parse_button,
    "interactive": _parse_interactive,
    "reaction": _parse_reaction,
    "location": _parse_location,
    "system": _parse_system,
    "unsupported": _parse_unsupported,
    "order": _parse_order,
    "contacts": _parse_contacts_list,
}
_TYPE_PARSERS.update(dict.fromkeys(MEDIA_TYPES, _parse_media))


def _parse_status(item, phone_number_id, waba_id):
    wamid = _str(item.get("id"))
    if not wamid:
        raise _ItemError("missing message id")
    status = _str(item.get("status"))
    if not status:
        raise _ItemError("missing status")
    timestamp = _timestamp(item.get("timestamp"))
    pricing = _dict(item.get("pricing"))
    return StatusUpdate(
        phone_number_id=phone_number_id,
        waba_id=waba_id,
        wamid=wamid,
        status=status.lower(),
        timestamp=timestamp,
        recipient_id=_str(item.get("recipient_id")),
        recipient_user_id=_str(item.get("recipient_user_id")),
        callback_data=_text(item.get("biz_opaque_callback_data")),
        pricing_category=_str(pricing.get("category")),
        errors=_error_infos(item.get("errors")),
        raw=item,
    )


def _parse_template_update(result, value, waba_id, path):
    event = _str(value.get("event"))
    template_id = _str(value.get("message_template_id"))
    if not event or not template_id:
        result.invalid_items.append((path, "missing event or message_template_id"))
        return
    result.template_updates.append(
        TemplateStatusUpdate(
            waba_id=waba_id,
            event=event,
            message_template_id=template_id,
            message_template_name=_text(value.get("message_template_name")),
            message_template_language=_text(value.get("message_template_language")),
            reason=_text(value.get("reason")),
            raw=value,
        )
    )
