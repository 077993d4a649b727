"""Dashboard statistics on messages, within the caller's record rules."""

from datetime import datetime, timedelta

import pytz

from odoo import api, fields, models


class OfitecWhatsappMessageStats(models.Model):
    _inherit = "ofitec.whatsapp.message"

    # ------------------------------------------------------------------
    # Statistics
    # ------------------------------------------------------------------
    @api.model
    def get_whatsapp_stats(self, days=30):
        """Dashboard figures, within the caller's record rules.

        ``sent_today`` and ``received_today`` count since midnight (user's time zone);
        ``delivery_rate`` is the share of real (not test) outbound messages sent in the
        last ``days`` days that reached the phone (delivered or read), in percent;
        ``replies_processed`` counts the replies that changed an action today.
        """
        midnight = self._get_local_midnight()
        since = fields.Datetime.now() - timedelta(days=days)
        outbound = [("direction", "=", "outbound")]
        sent_today = self.search_count(outbound + [("sent_date", ">=", midnight)])
        received_today = self.search_count(
            [("direction", "=", "inbound"), ("create_date", ">=", midnight)]
        )
        period = outbound + [("is_test", "=", False), ("sent_date", ">=", since)]
        period_sent = self.search_count(
            period + [("state", "in", ("sent", "delivered", "read", "failed"))]
        )
        period_reached = self.search_count(period + [("state", "in", ("delivered", "read"))])
        replies = self.search_count(
            [
                ("direction", "=", "inbound"),
                ("reply_processed", "=", True),
                ("create_date", ">=", midnight),
            ]
        )
        return {
            "sent_today": sent_today,
            "received_today": received_today,
            "delivery_rate": round(100.0 * period_reached / period_sent, 1) if period_sent else 0.0,
            "replies_processed": replies,
            "queued": self.search_count(outbound + [("state", "=", "queued")]),
            "failed_today": self.search_count(
                outbound + [("state", "=", "failed"), ("write_date", ">=", midnight)]
            ),
            "period_days": days,
        }

    @api.model
    def _get_local_midnight(self):
        """Today's midnight in the user's time zone, as a naive UTC datetime."""
        tz = pytz.timezone(self.env.context.get("tz") or self.env.user.tz or "UTC")
        local_midnight = datetime.now(tz).replace(hour=0, minute=0, second=0, microsecond=0)
        return local_midnight.astimezone(pytz.utc).replace(tzinfo=None)
