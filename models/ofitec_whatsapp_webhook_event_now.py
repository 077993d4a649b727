"""Inbound texts the cron falls behind on, applied by the HTTP workers after their 200.

Why not only the cron: Odoo runs cron workers at ``nice 10``. While webhooks keep the
CPUs busy, a niced worker gets a small share of them, so replies piled up behind a
webhook that accepted them faster than anything applied them (issue 10: 1,326 texts
still waiting 5 s after a 15 s load). So when a full batch of texts is waiting
(``BACKLOG``), the worker that just answered applies one batch: the provider's next POST
waits for a free worker instead of the backlog growing (the webhook accepts texts at the
rate they are applied), and the workers' CPU share goes to the replies. Below that the
cron keeps up, and a job would pay a batch's fixed cost (a transaction, a cold cache:
about 35 queries for a lone text, against 14 per text in a batch) for one text.

The answer is never delayed: werkzeug sends the whole response, then closes the
response iterator, which runs the job (``Response.call_on_close``). The job claims like
the cron (``_claim``: ``SKIP LOCKED``, one sender's events in order), so workers and the
cron share the work and never apply an event twice; whatever a job leaves, or fails on,
stays ``received`` for the cron, which the route woke as before. Statuses are not
applied here: batched by the cron they cost a fraction of a text, and nobody waits on
them as on a reply.
"""

import logging

import odoo
from odoo import SUPERUSER_ID, api, models

from .ofitec_whatsapp_webhook_event_apply import MESSAGES_PER_BATCH

_logger = logging.getLogger(__name__)

# Waiting events with messages that make a worker apply a batch of them after its answer.
BACKLOG = MESSAGES_PER_BATCH


def process_after_answer(dbname):
    """What the webhook route runs once its answer is sent; never raises."""
    try:
        with odoo.registry(dbname).cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["ofitec.whatsapp.webhook.event"]._process_texts_now()
    except Exception:  # the events stay received: the cron applies them
        _logger.exception("WhatsApp texts not applied after the answer; left to the cron")


class OfitecWhatsappWebhookEventNow(models.Model):
    _inherit = "ofitec.whatsapp.webhook.event"

    @api.model
    def _after_answer(self, parsed):
        """The job the route runs after answering a POST whose body is ``parsed``
        (a callable without arguments), or None when it holds no inbound message."""
        if parsed is None or not parsed.sender_key:
            return None
        dbname = self.env.cr.dbname
        return lambda: process_after_answer(dbname)

    @api.model
    def _process_texts_now(self):
        """Apply a batch of waiting events with messages and commit, when a whole batch
        is waiting (``BACKLOG``); returns how many were applied. A concurrent update
        (another worker committed a claimed event, or moved the same action) is tried
        once more, then left to the cron."""
        for _attempt in range(2):
            events = self._claim_for(BACKLOG, with_messages=True)
            if events is None:
                continue
            if len(events) < BACKLOG:
                self.env.cr.rollback()  # the cron keeps up: they are its own
                return 0
            notices = {}
            done = self._apply_claimed(events, notices)
            if done is None:
                continue
            self.env["ofitec.whatsapp.config"]._notify_dashboards(notices)
            self.env.cr.commit()  # pylint: disable=invalid-commit
            return len(done)
        return 0
