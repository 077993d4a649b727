"""Reply commands: what a user's WhatsApp answer asks us to do.

A message is a command only when the *whole* message is a command word or
phrase, optionally with an action number before or after it
(``"OK"``, ``" ok!! "``, ``"✅ COMPLETADO"``, ``"ok #42"``, ``"42 ok"``).
A sentence that merely contains "ok" is not a command.

Buttons carry a machine payload ``ofitec:<action_id>:<command>``
(:func:`make_button_payload` / :func:`parse_button_payload`); when a payload is
not ours (e.g. a template button without payload sends its label), callers pass
the label to :func:`parse_command`.
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

__all__ = [
    "CMD_CANCEL",
    "CMD_COMPLETED",
    "CMD_OK",
    "CMD_STOP",
    "BUTTON_COMMANDS",
    "COMMANDS",
    "COMMAND_WORDS",
    "DEFAULT_CONFIG_SYNONYMS",
    "DEFAULT_SYNONYMS",
    "MAX_ACTION_REF",
    "ParsedCommand",
    "make_button_payload",
    "normalize_text",
    "parse_button_payload",
    "parse_command",
]

CMD_OK = "ok"
CMD_COMPLETED = "completed"
CMD_CANCEL = "cancel"
CMD_STOP = "stop"
COMMANDS = (CMD_OK, CMD_COMPLETED, CMD_CANCEL, CMD_STOP)
#: The commands a notification's reply buttons offer, in this order.
BUTTON_COMMANDS = (CMD_OK, CMD_COMPLETED, CMD_CANCEL)
#: The word each command is written as: the buttons' titles, the notification's text,
#: the history and the filters show it (the same in every language: users type it).
COMMAND_WORDS = {
    CMD_OK: "OK",
    CMD_COMPLETED: "COMPLETADO",
    CMD_CANCEL: "CANCELAR",
    CMD_STOP: "STOP",
}

#: Normalised word or phrase -> command.
DEFAULT_SYNONYMS = {
    "ok": CMD_OK,
    "okay": CMD_OK,
    "si": CMD_OK,
    "vale": CMD_OK,
    "confirmo": CMD_OK,
    "confirmado": CMD_OK,
    "de acuerdo": CMD_OK,
    # In Chile "listo", "ya" and "dale" acknowledge ("ok, understood") at least as often
    # as they report a task done: an acknowledgement must never close an action.
    "listo": CMD_OK,
    "ya": CMD_OK,
    "dale": CMD_OK,
    "completado": CMD_COMPLETED,
    "completada": CMD_COMPLETED,
    "hecho": CMD_COMPLETED,
    "terminado": CMD_COMPLETED,
    "terminada": CMD_COMPLETED,
    "cancelar": CMD_CANCEL,
    "cancelado": CMD_CANCEL,
    "cancelada": CMD_CANCEL,
    "anular": CMD_CANCEL,
    "stop": CMD_STOP,
    "baja": CMD_STOP,
}

#: What a new WhatsApp number's synonym fields show (words of DEFAULT_SYNONYMS, which
#: apply whatever the fields say; the fields add words, they remove none).
DEFAULT_CONFIG_SYNONYMS = {
    CMD_OK: "sí, si, vale, confirmo, de acuerdo, listo, ya, dale",
    CMD_COMPLETED: "hecho, terminado, terminada, completada",
    CMD_CANCEL: "anular, cancelado",
}

#: Largest action number accepted (PostgreSQL ``integer``).
MAX_ACTION_REF = 2**31 - 1

_NUMBER_BEFORE = re.compile(r"(\d{1,10}) (.+)")
_NUMBER_AFTER = re.compile(r"(.+?) (\d{1,10})")
_BUTTON_PAYLOAD = re.compile(r"ofitec:(\d{1,10}):([a-z_]+)")
_SPACES = re.compile(r"\s+")


class ParsedCommand(NamedTuple):
    """``(command, action_ref)``; both ``None`` when the text is not a command.

    False in a boolean context when no command was recognised.
    """

    command: str | None
    action_ref: int | None

    def __bool__(self):
        return self.command is not None


NO_COMMAND = ParsedCommand(None, None)


def normalize_text(text):
    """Case-fold, strip accents, turn emoji / punctuation into spaces, collapse
    spaces. ``'  ✅ ¡Completádo! '`` -> ``'completado'``."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKD", str(text).casefold())
    chars = []
    for char in text:
        if unicodedata.combining(char):
            continue
        chars.append(char if char.isalnum() else " ")
    return _SPACES.sub(" ", "".join(chars)).strip()


def _synonyms(extra):
    table = dict(DEFAULT_SYNONYMS)
    for phrase, command in (extra or {}).items():
        key = normalize_text(phrase)
        if not key:
            continue
        if command:
            table[key] = command
        else:  # a falsy value removes a default synonym
            table.pop(key, None)
    return table


def _action_ref(digits):
    value = int(digits)
    return value if 0 < value <= MAX_ACTION_REF else None


def parse_command(text, synonyms=None):
    """Recognise a reply command.

    ``synonyms`` (normalised or not: keys are normalised here) maps extra words
    or phrases to commands and is merged over :data:`DEFAULT_SYNONYMS`; map a
    phrase to ``None`` to disable a default one.

    Returns ``ParsedCommand(command, action_ref)``: ``('ok', None)`` for
    ``"OK"``, ``('ok', 42)`` for ``"OK 42"``, ``"ok #42"`` or ``"42 ok"``, and
    ``(None, None)`` for anything else.
    """
    normalized = normalize_text(text)
    if not normalized:
        return NO_COMMAND
    table = _synonyms(synonyms)
    command = table.get(normalized)
    if command:
        return ParsedCommand(command, None)
    for pattern, phrase_group, number_group in (
        (_NUMBER_AFTER, 1, 2),
        (_NUMBER_BEFORE, 2, 1),
    ):
        match = pattern.fullmatch(normalized)
        if not match:
            continue
        command = table.get(match.group(phrase_group))
        if not command:
            continue
        ref = _action_ref(match.group(number_group))
        if ref is None:
            return NO_COMMAND
        return ParsedCommand(command, ref)
    return NO_COMMAND


def make_button_payload(action_id, command):
    """``'ofitec:<action_id>:<command>'`` for a button that answers ``command``
    about action ``action_id``."""
    if isinstance(action_id, bool) or not isinstance(action_id, (int, str)):
        raise ValueError(f"action_id must be a positive integer, got {action_id!r}")
    try:
        ref = int(action_id)
    except ValueError:
        raise ValueError(f"action_id must be a positive integer, got {action_id!r}") from None
    if not 0 < ref <= MAX_ACTION_REF:
        raise ValueError(f"action_id must be a positive integer, got {action_id!r}")
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}, expected one of {COMMANDS}")
    return f"ofitec:{ref}:{command}"


def parse_button_payload(payload):
    """``'ofitec:42:ok'`` -> ``('ok', 42)``; ``None`` when the payload is not ours
    or malformed (unknown command, bad id)."""
    if not isinstance(payload, str):
        return None
    match = _BUTTON_PAYLOAD.fullmatch(payload.strip())
    if not match:
        return None
    command = match.group(2)
    ref = _action_ref(match.group(1))
    if command not in COMMANDS or ref is None:
        return None
    return command, ref
