from odoo import fields, models


class IrCron(models.Model):
    _inherit = "ir.cron"

    def _trigger_unless_pending(self, at=None):
        """``_trigger()``, skipped when this cron already has a due trigger.

        Every immediate ``_trigger()`` makes Odoo open a new connection to the
        ``postgres`` database after commit to NOTIFY the cron workers (about 5 ms).
        Queueing messages or storing webhooks one after the other would pay it each
        time, although one due trigger already wakes the cron, which then drains
        everything. A trigger created while the cron runs can be deleted by that run's
        end; the cron's one-minute interval is the fallback for that rare case.
        """
        self.ensure_one()
        if at is None:
            self.env.cr.execute(
                """
                SELECT 1 FROM ir_cron_trigger
                 WHERE cron_id = %s AND call_at <= %s
                 LIMIT 1
                """,
                # Odoo's clock, as _trigger() uses it (not the transaction's start).
                (self.id, fields.Datetime.now()),
            )
            if self.env.cr.fetchone():
                return
        self.sudo()._trigger(at)
