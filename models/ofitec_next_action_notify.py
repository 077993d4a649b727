"""The urgent notification of an action, prepared after the user's transaction.

Saving an urgent open action only marks it: ``whatsapp_notify_state = 'pending'``,
written by the action's own INSERT on create (through the default values, so no
extra query) and wakes the cron ``ir_cron_whatsapp_notify_actions`` once per
``create``/``write`` call. The cron resolves the recipients, renders the texts and
queues the messages (which wakes the send cron), a batch of actions per
transaction. Creating actions, one by one or by the hundred, then costs about what
it costs without this module.
"""

import logging
import threading

import psycopg2

from odoo import _, api, fields, models

from ..tools.actions import OPEN_STATUSES, URGENT_PRIORITIES

_logger = logging.getLogger(__name__)

NOTIFY_BATCH = 50  # actions prepared, then committed, together
CLAIM_RETRIES = 5  # serialization failures in a row before a run hands over


def _wants_notification(enabled, notified, priority, status):
    """The one rule: an enabled, open, urgent action not notified yet."""
    return bool(
        enabled and not notified and priority in URGENT_PRIORITIES and status in OPEN_STATUSES
    )


class OfitecNextActionNotify(models.Model):
    _inherit = "ofitec.next.action"

    whatsapp_notify_state = fields.Selection(
        [
            ("pending", "Preparing"),
            ("queued", "Queued"),
            ("failed", "Failed"),
        ],
        string="WhatsApp Notification",
        readonly=True,
        copy=False,
        help="Preparing: the urgent notification will be queued within seconds. Queued: its "
        "messages are in the WhatsApp queue. Failed: it could not be prepared (see why).",
    )
    whatsapp_notify_error = fields.Text(
        string="WhatsApp Notification Error",
        readonly=True,
        copy=False,
        help="Why the urgent notification could not be prepared.",
    )

    def init(self):
        # The cron looks for pending actions only: a tiny partial index finds them.
        self.env.cr.execute(
            """
            CREATE INDEX IF NOT EXISTS ofitec_next_action_whatsapp_pending_idx
                ON ofitec_next_action (id)
             WHERE whatsapp_notify_state = 'pending'
            """
        )

    # ------------------------------------------------------------------
    # CRUD hooks
    # ------------------------------------------------------------------
    @api.model
    def _add_missing_default_values(self, values):
        # Called by create() for each record once its defaults are known: an action
        # urgent from the start is marked pending in its own INSERT.
        values = super()._add_missing_default_values(values)
        if _wants_notification(
            values.get("whatsapp_enabled"),
            values.get("whatsapp_notified"),
            values.get("priority"),
            values.get("status"),
        ):
            values["whatsapp_notify_state"] = "pending"
            values["whatsapp_notified"] = True
        return values

    # ------------------------------------------------------------------
    # Business methods
    # ------------------------------------------------------------------
    def _whatsapp_notify_if_urgent(self):
        """Mark for the urgent notification (once) the actions that are, or became,
        open and urgent; the cron queues it. Returns the actions marked."""
        to_notify = self.filtered(
            lambda a: _wants_notification(
                a.whatsapp_enabled, a.whatsapp_notified, a.priority, a.status
            )
        )
        if to_notify:
            to_notify.sudo().write(
                {
                    "whatsapp_notify_state": "pending",
                    "whatsapp_notified": True,
                    "whatsapp_notify_error": False,
                }
            )
        if to_notify or any(a.whatsapp_notify_state == "pending" for a in self):
            self._whatsapp_trigger_notify()
        return to_notify

    @api.model
    def _whatsapp_trigger_notify(self):
        # Not env.ref(): it checks that the record exists, one query per call.
        cron_id = self.env["ir.model.data"]._xmlid_to_res_id(
            "ofitec_whatsapp.ir_cron_whatsapp_notify_actions", raise_if_not_found=False
        )
        if cron_id:
            self.env["ir.cron"].sudo().browse(cron_id)._trigger_unless_pending()

    @api.model
    def _whatsapp_process_pending(self, limit=None):
        """Queue the notifications of the pending actions; called by the cron.

        Actions are claimed in batches with ``FOR UPDATE SKIP LOCKED``, so two workers
        (or servers) never prepare the same one; each action is prepared in its own
        savepoint, so one that fails is marked failed (with the reason) and the others
        still go out. Outside tests each batch is committed: its messages are then in
        the queue. Returns the number of actions handled.
        """
        auto_commit = not getattr(threading.current_thread(), "testing", False)
        handled = conflicts = 0
        while limit is None or handled < limit:
            size = NOTIFY_BATCH if limit is None else min(NOTIFY_BATCH, limit - handled)
            try:
                actions = self._whatsapp_claim_pending(size)
                for action in actions:
                    action._whatsapp_notify_pending()
            except psycopg2.extensions.TransactionRollbackError:
                # REPEATABLE READ: an action changed since this transaction began (a
                # user saved it). Only a new transaction sees it as it is now.
                conflicts += 1
                if not auto_commit or conflicts > CLAIM_RETRIES:
                    raise
                self.env.cr.rollback()
                continue
            if not actions:
                break
            handled += len(actions)
            if auto_commit:
                # A batch is a unit of work; committing releases its row locks.
                self.env.cr.commit()  # pylint: disable=invalid-commit
        return handled

    @api.model
    def _whatsapp_claim_pending(self, size):
        """Lock and return up to ``size`` pending actions, skipping rows others hold."""
        # The query reads the table itself: write pending ORM changes first.
        self.env.flush_all()
        self.env.cr.execute(
            """
            SELECT id FROM ofitec_next_action
             WHERE whatsapp_notify_state = 'pending'
             ORDER BY id
             LIMIT %s
               FOR UPDATE SKIP LOCKED
            """,
            (size,),
            # An action saved since this transaction's snapshot is refused (REPEATABLE
            # READ): expected, and retried by the caller; not a fault for the log.
            log_exceptions=False,
        )
        actions = self.sudo().browse([row[0] for row in self.env.cr.fetchall()])
        actions.invalidate_recordset()
        return actions

    def _whatsapp_notify_pending(self):
        """Queue the urgent notification of this pending action, or say why not."""
        self.ensure_one()
        action = self.sudo()
        if not _wants_notification(action.whatsapp_enabled, False, action.priority, action.status):
            # Changed since it was saved (completed, no longer urgent, switched off):
            # nothing to send; a later escalation notifies it.
            action.write({"whatsapp_notify_state": False, "whatsapp_notified": False})
            return
        try:
            with self.env.cr.savepoint():
                action._whatsapp_in_lang()._whatsapp_queue_one("urgent", "urgent_action")
        except psycopg2.extensions.TransactionRollbackError:
            raise
        except Exception as error:  # never let one action block the ones after it
            _logger.exception("WhatsApp: could not queue messages for action %s", action.id)
            action.write(
                {
                    "whatsapp_notify_state": "failed",
                    # A later change of the action may try again.
                    "whatsapp_notified": False,
                    "whatsapp_notify_error": f"{type(error).__name__}: {error}",
                }
            )
            try:
                with self.env.cr.savepoint():
                    action = action._whatsapp_in_lang()
                    action._whatsapp_alert([action._whatsapp_notify_error_line()])
            except psycopg2.extensions.TransactionRollbackError:
                raise
            except Exception:
                _logger.exception("WhatsApp: could not report the failure of action %s", action.id)

    def _whatsapp_notify_error_line(self):
        """The problem line of a notification that could not be prepared, or ''."""
        self.ensure_one()
        if self.sudo().whatsapp_notify_state != "failed":
            return ""
        return _(
            "The WhatsApp notification could not be prepared: %s",
            self.sudo().whatsapp_notify_error or _("unknown reason"),
        )
