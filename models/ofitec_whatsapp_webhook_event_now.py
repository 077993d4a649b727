"""Inbound texts applied by the HTTP worker that received them, once its 200 is sent.

Why not only the cron: Odoo runs cron workers at ``nice 10``. While webhooks keep the
CPUs busy, a niced worker gets a small share of them, so replies piled up behind the
webhook that accepted them faster than anything applied them (issue 10: 1,326 texts
still waiting 5 s after a 15 s load). Applied by the worker that answered, a text costs
that worker its time: the provider's next POST waits for a free worker instead of the
backlog growing, and a reply moves its action a few milliseconds after the 200.

The answer is never delayed: werkzeug sends the whole response, then closes the
response iterator, which runs this (``Response.call_on_close``). The job claims like
the cron (``_claim``: ``SKIP LOCKED``, one sender's events in order), so several workers
and the cron share the work and never apply an event twice. Whatever it leaves (an
older event of the same sender still being applied elsewhere, an error, a worker killed
before it ran) stays ``received`` for the cron, which the route woke as before.
Statuses are not applied here: batched by the cron they cost a fraction of the work
(see ``_process_batch``), and no one waits on them as on a reply.
"""

import logging

from psycopg2.extensions import TransactionRollbackError

import odoo
from odoo import SUPERUSER_ID, api, models

_logger = logging.getLogger(__name__)

# Events with messages one job claims: its own, and a few left by others (an event
# whose sender was busy in another worker when its own request ended).
EVENTS_PER_JOB = 3


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
    def _process_texts_now(self, size=EVENTS_PER_JOB):
        """Claim up to ``size`` waiting events with messages, apply them and commit;
        returns how many were applied. A concurrent update (another worker moved the
        same action) is tried once more in a new transaction, then left to the cron."""
        for _attempt in range(2):
            events = self._claim(size, with_messages=True)
            if not events:
                return 0
            notices = {}
            try:
                done = events._process_batch(notices)
            except TransactionRollbackError:
                self.env.cr.rollback()
                continue
            self.env["ofitec.whatsapp.config"]._notify_dashboards(notices)
            self.env.cr.commit()  # pylint: disable=invalid-commit
            return len(done)
        return 0
