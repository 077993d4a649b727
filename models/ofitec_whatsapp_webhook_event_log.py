"""How long the webhook log is kept: each number says how many days, Odoo's daily
autovacuum deletes what is older.

Every signed POST is stored whole before the 200 (``_store``), statuses included: a
number that sends a few hundred messages a day stores about a thousand events a day,
each with phone numbers and texts in its body. Nothing needs them once applied:
duplicates are recognised by the messages and statuses themselves (their unique keys),
not by the log, so a redelivery after the purge is still applied once. What is kept:

* events still waiting (``received``) and ``failed`` ones, which an administrator
  reprocesses or deletes;
* each number's newest processed event, which the health panel shows as its last
  webhook and its set-up checklist as "first webhook received".
"""

import logging

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

_logger = logging.getLogger(__name__)

DEFAULT_LOG_DAYS = 30

# One statement for every number: each number's cut-off and newest kept event first,
# once (a correlated sub-query, or the cut-off computed in the DELETE's condition, would
# run once per old event).
PURGE_SQL = """
    WITH kept AS MATERIALIZED (
        SELECT config.id AS config_id,
               %(now)s - make_interval(days => config.webhook_log_days) AS cutoff,
               (SELECT max(newest.id)
                  FROM ofitec_whatsapp_webhook_event newest
                 WHERE newest.config_id = config.id
                   AND newest.state = 'processed') AS newest_id
          FROM ofitec_whatsapp_config config
         WHERE config.webhook_log_days > 0
    )
    DELETE FROM ofitec_whatsapp_webhook_event event
     USING kept
     WHERE event.config_id = kept.config_id
       AND event.state IN ('processed', 'rejected')
       AND event.create_date < kept.cutoff
       AND event.create_date < (SELECT max(cutoff) FROM kept)  -- in the scan, before the join
       AND event.id IS DISTINCT FROM kept.newest_id
"""


class OfitecWhatsappConfigLog(models.Model):
    _inherit = "ofitec.whatsapp.config"

    webhook_log_days = fields.Integer(
        string="Keep Webhook Log (days)",
        default=DEFAULT_LOG_DAYS,
        help="Processed and rejected webhooks older than this are deleted every day. "
        "Waiting and failed ones are kept, and so is the newest processed one. "
        "0 keeps them all.",
    )

    @api.constrains("webhook_log_days")
    def _check_webhook_log_days(self):
        if any(config.webhook_log_days < 0 for config in self):
            raise ValidationError(_("The days of webhook log to keep cannot be negative."))


class OfitecWhatsappWebhookEventLog(models.Model):
    _inherit = "ofitec.whatsapp.webhook.event"

    @api.autovacuum
    def _gc_webhook_log(self, now=None):
        """Delete the processed and rejected events older than their number's
        ``webhook_log_days``; returns how many."""
        self.env.flush_all()  # the numbers' limits too
        self.env.cr.execute(PURGE_SQL, {"now": now or fields.Datetime.now()})
        count = self.env.cr.rowcount
        self.invalidate_model()
        if count:
            _logger.info(
                "WhatsApp: %s webhook log entries past their number's limit deleted", count
            )
        return count
