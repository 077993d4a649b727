"""The next action as this addon reads it: which actions are urgent or open, and what
a reply command does to one.

The statuses and priorities are the contract's (``../shared/spec/next-action-contract.md``):
written here once, read by the notification, the queue's claim, the reply routing and
the reply itself.
"""

from __future__ import annotations

from typing import NamedTuple

from .commands import CMD_CANCEL, CMD_COMPLETED, CMD_OK

__all__ = [
    "ANSWER_ALREADY",
    "ANSWER_INVALID_STATE",
    "CLOSED_STATUSES",
    "OPEN_STATUSES",
    "REPLY_TRANSITIONS",
    "URGENT_PRIORITIES",
    "Transition",
    "reply_answer",
]

#: Priorities whose actions are notified at once ("1" critical, "2" high).
URGENT_PRIORITIES = ("1", "2")
#: An action still to be done: notified, reminded, answerable.
OPEN_STATUSES = ("pending", "in_progress")
#: An action done with: its queued notifications are withdrawn.
CLOSED_STATUSES = ("completed", "cancelled")

#: Answer template codes when a command changes nothing.
ANSWER_ALREADY = "reply_already"
ANSWER_INVALID_STATE = "reply_invalid_state"


class Transition(NamedTuple):
    """What a reply command does: the contract's ``method``, run on an action in one of
    ``allowed_from``; an action in ``reached`` already is where the command leads;
    ``answer``: the code of the template answered when it applies."""

    method: str
    allowed_from: tuple
    reached: tuple
    answer: str


REPLY_TRANSITIONS = {
    CMD_OK: Transition("action_start_progress", ("pending",), ("in_progress",), "reply_ok"),
    CMD_COMPLETED: Transition(
        "action_mark_completed", OPEN_STATUSES, ("completed",), "reply_completed"
    ),
    CMD_CANCEL: Transition("action_cancel", OPEN_STATUSES, ("cancelled",), "reply_cancel"),
}


def reply_answer(command, status):
    """The answer's template code for ``command`` on an action in ``status``: the
    transition's own when it applies (the caller then runs its method),
    :data:`ANSWER_ALREADY` or :data:`ANSWER_INVALID_STATE` when it changes nothing."""
    transition = REPLY_TRANSITIONS[command]
    if status in transition.reached:
        return ANSWER_ALREADY
    if status not in transition.allowed_from:
        return ANSWER_INVALID_STATE
    return transition.answer
