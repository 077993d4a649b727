import unittest

from ofitec_whatsapp.tools.actions import (
    ANSWER_ALREADY,
    ANSWER_INVALID_STATE,
    CLOSED_STATUSES,
    OPEN_STATUSES,
    REPLY_TRANSITIONS,
    URGENT_PRIORITIES,
    reply_answer,
)
from ofitec_whatsapp.tools.commands import CMD_CANCEL, CMD_COMPLETED, CMD_OK, CMD_STOP

# The contract's selections (../shared/spec/next-action-contract.md).
CONTRACT_STATUSES = ("pending", "in_progress", "completed", "cancelled")
CONTRACT_PRIORITIES = ("1", "2", "3", "4")


class TestActionRules(unittest.TestCase):
    def test_statuses_split_the_contract_in_two(self):
        self.assertEqual(set(OPEN_STATUSES) | set(CLOSED_STATUSES), set(CONTRACT_STATUSES))
        self.assertFalse(set(OPEN_STATUSES) & set(CLOSED_STATUSES))

    def test_urgent_is_critical_and_high_as_strings(self):
        self.assertEqual(URGENT_PRIORITIES, ("1", "2"))
        self.assertTrue(set(URGENT_PRIORITIES) < set(CONTRACT_PRIORITIES))

    def test_every_action_command_has_a_transition_and_stop_none(self):
        self.assertEqual(set(REPLY_TRANSITIONS), {CMD_OK, CMD_COMPLETED, CMD_CANCEL})
        self.assertNotIn(CMD_STOP, REPLY_TRANSITIONS)
        for transition in REPLY_TRANSITIONS.values():
            self.assertTrue(set(transition.allowed_from) <= set(OPEN_STATUSES))
            self.assertFalse(set(transition.allowed_from) & set(transition.reached))


class TestReplyAnswer(unittest.TestCase):
    def test_every_command_on_every_status(self):
        expected = {
            (CMD_OK, "pending"): "reply_ok",
            (CMD_OK, "in_progress"): ANSWER_ALREADY,
            (CMD_OK, "completed"): ANSWER_INVALID_STATE,
            (CMD_OK, "cancelled"): ANSWER_INVALID_STATE,
            (CMD_COMPLETED, "pending"): "reply_completed",
            (CMD_COMPLETED, "in_progress"): "reply_completed",
            (CMD_COMPLETED, "completed"): ANSWER_ALREADY,
            (CMD_COMPLETED, "cancelled"): ANSWER_INVALID_STATE,
            (CMD_CANCEL, "pending"): "reply_cancel",
            (CMD_CANCEL, "in_progress"): "reply_cancel",
            (CMD_CANCEL, "completed"): ANSWER_INVALID_STATE,
            (CMD_CANCEL, "cancelled"): ANSWER_ALREADY,
        }
        for (command, status), answer in expected.items():
            with self.subTest(command=command, status=status):
                self.assertEqual(reply_answer(command, status), answer)

    def test_the_methods_are_the_contracts(self):
        methods = {command: t.method for command, t in REPLY_TRANSITIONS.items()}
        self.assertEqual(
            methods,
            {
                CMD_OK: "action_start_progress",
                CMD_COMPLETED: "action_mark_completed",
                CMD_CANCEL: "action_cancel",
            },
        )


if __name__ == "__main__":
    unittest.main()
