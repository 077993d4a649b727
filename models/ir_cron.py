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

    # ------------------------------------------------------------------
    # A wake-up that is never lost (the webhook events)
    # ------------------------------------------------------------------
    def _trigger_now(self, notify=True):
        """``_trigger()`` for work committed with the current transaction, never lost.

        Skipping the trigger when one is already due (``_trigger_unless_pending``) can
        leave work behind: the run that deletes that trigger at its end may have looked
        for work before this transaction committed. This transaction's own trigger is
        invisible to the clean-up of a run begun before the commit (``_process_job``
        deletes what its snapshot holds), so the run it causes starts after the commit.
        One INSERT for these crons (several: the workers of one job), and (``notify``)
        a NOTIFY to the cron workers after commit; one run consumes the triggers of
        many requests.
        """
        self.env.cr.execute(
            """
            INSERT INTO ir_cron_trigger (cron_id, call_at, create_uid, write_uid,
                                         create_date, write_date)
            SELECT id, clock_timestamp() AT TIME ZONE 'UTC', %s, %s,
                   now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
              FROM ir_cron WHERE id = ANY(%s) AND active
            """,
            (self.env.uid, self.env.uid, self.ids),
        )
        if not self.env.cr.rowcount:
            return False
        if notify:
            self.env.cr.postcommit.add(self._notifydb)
        return True
