"""One table of reply-routing and status cases, run once per provider.

The cases are provider-neutral: a status is named as ``tools.status`` names it
(``sent``, ``delivered``, ``read``, ``failed``) or ``unknown`` (a status the provider
sends that moves nothing); a reply is a button tap carrying one of our commands, a
text, or a text quoting our notification. Every provider must give the same outcome.

Adding a provider: write a runner, a test class that inherits ``ProviderCasesMixin``
and the provider's base case, and implements the five ``_case_*`` hooks below with
that provider's wire format (its real client over a fake transport, its webhooks as
the provider would post them). ``tests/test_provider_cases.py`` holds Meta's runner;
Twilio's sits beside it. Add a case here, and every provider runs it.
"""

from collections import namedtuple

ANSWER_OK = "✅ Acción confirmada. Gracias por tu respuesta."
ANSWER_COMPLETED = "🎉 Acción completada exitosamente. ¡Excelente trabajo!"
ANSWER_CANCEL = "❌ Acción cancelada. Si necesitas ayuda, avísanos."
ANSWER_NO_ACTION = "No encontramos una acción abierta enviada a este número."

MANAGER = "+56911111111"
STRANGER = "+56933333333"

StatusCase = namedtuple("StatusCase", "name statuses state failed")
ReplyCase = namedtuple("ReplyCase", "name sender kind value status answer")

#: statuses delivered one webhook at a time, in this order -> message state
STATUS_CASES = [
    StatusCase("in order", ["sent", "delivered", "read"], "read", False),
    StatusCase("out of order", ["read", "sent", "delivered"], "read", False),
    StatusCase("read without delivered", ["sent", "read"], "read", False),
    StatusCase("redelivered", ["delivered", "delivered"], "delivered", False),
    StatusCase("failed after sent", ["sent", "failed"], "failed", True),
    StatusCase("failed after delivered is ignored", ["delivered", "failed"], "delivered", False),
    StatusCase("delivered after failed is ignored", ["failed", "delivered"], "failed", True),
    StatusCase("unknown status is ignored", ["sent", "unknown"], "sent", False),
]

#: a reply from ``sender`` to the urgent notification -> action status, answer text
#: (``answer`` None: the help text, which names the three commands)
REPLY_CASES = [
    ReplyCase("button OK", MANAGER, "button", "ok", "in_progress", ANSWER_OK),
    ReplyCase("button COMPLETADO", MANAGER, "button", "completed", "completed", ANSWER_COMPLETED),
    ReplyCase("button CANCELAR", MANAGER, "button", "cancel", "cancelled", ANSWER_CANCEL),
    ReplyCase("text OK", MANAGER, "text", "OK", "in_progress", ANSWER_OK),
    ReplyCase("text synonym", MANAGER, "text", "hecho", "completed", ANSWER_COMPLETED),
    ReplyCase("text quoting the notification", MANAGER, "quoted", "cancelar", "cancelled",
              ANSWER_CANCEL),
    ReplyCase("other text gets the help", MANAGER, "text", "Hola, ¿qué tal?", "pending", None),
    ReplyCase("stranger has no action", STRANGER, "text", "OK", "pending", ANSWER_NO_ACTION),
]  # fmt: skip


class ProviderCasesMixin:
    """Runs STATUS_CASES and REPLY_CASES through one provider (see the module doc).

    Hooks a runner implements:

    * ``_case_notify()`` -> the urgent action, its notifications sent through the
      provider (the queue drained over the fake transport);
    * ``_case_status(message, status)`` -> deliver one neutral ``status`` of the sent
      ``message`` as the provider's webhook, and process it;
    * ``_case_reply(sender, kind, value, action, notification)`` -> deliver a reply
      from ``sender`` (``+E164``) as the provider's webhook, and process it. ``kind``:
      ``button`` (``value`` is our command: tap the button the notification carried),
      ``text`` (``value`` is the text), ``quoted`` (a text quoting ``notification``);
    * ``_case_failed_code()`` -> the provider's error code the runner puts on a failed
      status (stored as the message's ``error_code``);
    * ``_case_last_text(number)`` -> the body of the last free text the provider was
      asked to send to ``number``.
    """

    def _case_reset(self):
        # One open action at a time for the manager: earlier cases' actions are closed.
        self.env["ofitec.next.action"].search([("status", "in", ("pending", "in_progress"))]).write(
            {"status": "cancelled"}
        )

    def _case_notification(self, action, number=MANAGER):
        return self._messages(action, phone=number, direction="outbound")[:1]

    def test_status_cases(self):
        for case in STATUS_CASES:
            with self.subTest(case=case.name):
                self._case_reset()
                action = self._case_notify()
                message = self._case_notification(action)
                self.assertEqual(message.state, "sent")
                for status in case.statuses:
                    self._case_status(message, status)
                self.assertEqual(message.state, case.state)
                if case.failed:
                    self.assertEqual(message.error_code, str(self._case_failed_code()))
                else:
                    self.assertFalse(message.error_code)

    def test_reply_cases(self):
        Message = self.env["ofitec.whatsapp.message"]
        for case in REPLY_CASES:
            with self.subTest(case=case.name):
                self._case_reset()
                action = self._case_notify()
                notification = self._case_notification(action)
                self._case_reply(case.sender, case.kind, case.value, action, notification)
                self.assertEqual(action.status, case.status)
                answers = Message.search(
                    [
                        ("direction", "=", "outbound"),
                        ("phone", "=", case.sender),
                        ("state", "=", "queued"),
                        # A stranger writing for the first time is also welcomed
                        # (tests/test_welcome.py): not an answer to the command.
                        ("template_id.code", "!=", "welcome"),
                    ]
                )
                self.assertEqual(len(answers), 1, answers.mapped("body"))
                welcome = Message.search([("phone", "=", case.sender), ("once_key", "!=", False)])
                welcome.state = "cancelled"  # out of the way of the answer sent below
                self._run_queue()
                self.assertEqual(answers.state, "sent")
                sent = self._case_last_text(case.sender)
                if case.answer is None:
                    for word in ("*OK*", "*COMPLETADO*", "*CANCELAR*"):
                        self.assertIn(word, sent)
                else:
                    self.assertEqual(sent, case.answer)
