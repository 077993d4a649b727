"""Queued messages that failed for now: back off by error code, then fail."""

import logging
import random
from datetime import timedelta

import psycopg2

from odoo import fields, models

from ..tools import ratelimit
from ..tools.errors import RateLimitedError, UncertainDeliveryError

_logger = logging.getLogger(__name__)

BACKOFF_BASE = 2.0  # seconds
BACKOFF_CAP = 900.0  # 15 minutes
UNCERTAIN_MIN_DELAY = 60.0  # leave time for a status webhook to reconcile a lost answer


def _backoff_delay(attempt, error):
    """Seconds to wait before attempt ``attempt + 1`` (``attempt`` starts at 1).

    Exponential with jitter (2, 4, 8 … s, capped), 4^n (1, 4, 16 … s) for Meta's pair
    rate limit (131056), and at least a minute after a read timeout.
    """
    pair_limited = isinstance(error, RateLimitedError) and error.pair_limited
    delay = ratelimit.backoff_delay(
        attempt,
        base=BACKOFF_BASE,
        cap=BACKOFF_CAP,
        jitter=0.0 if pair_limited else 0.25,  # workers do not retry in lockstep
        pair_limited=pair_limited,
        rand=random.random,
    )
    if isinstance(error, UncertainDeliveryError):
        delay = max(delay, UNCERTAIN_MIN_DELAY)
    return delay


class OfitecWhatsappMessageRetry(models.Model):
    _inherit = "ofitec.whatsapp.message"

    def _schedule_retry(self, error):
        attempt = self.retry_count + 1
        max_attempts = self.config_id.max_attempts or 1
        code = error.code
        # Meta: code 1 ("API unknown") deserves at most two attempts.
        if attempt >= max_attempts or (code == 1 and attempt >= 2):
            self.retry_count = attempt
            # A network failure has no provider title: its description is the title.
            title = error.title if code is not None else None
            return self._mark_failed(
                code if code is not None else "retry", self._describe_error(error), title
            )
        next_attempt = fields.Datetime.now() + timedelta(seconds=_backoff_delay(attempt, error))
        self.write(
            {
                "retry_count": attempt,
                "next_attempt": next_attempt,
                "error_code": str(code) if code is not None else "network",
                "error_message": self._describe_error(error),
            }
        )
        if isinstance(error, RateLimitedError) and error.pair_limited:
            self._hold_same_recipient(next_attempt)
        self._trigger_queue(at=next_attempt)
        return False

    def _hold_same_recipient(self, until):
        """Other queued messages to this person would hit the same pair limit (131056):
        delay them too. Rows another worker holds are skipped (it is sending them; two
        workers holding each other's rows would deadlock), and this is only an
        optimisation: if it cannot be done now, each message backs off on its own."""
        self.ensure_one()
        if not (self.phone or self.bsuid):
            return
        self.flush_recordset()
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(
                    """
                    UPDATE ofitec_whatsapp_message SET next_attempt = %(until)s
                     WHERE id IN (
                        SELECT id FROM ofitec_whatsapp_message
                         WHERE id != %(id)s AND state = 'queued' AND direction = 'outbound'
                           AND config_id = %(config)s
                           AND (phone = %(phone)s OR (%(phone)s IS NULL AND bsuid = %(bsuid)s))
                           AND (next_attempt IS NULL OR next_attempt < %(until)s)
                           FOR UPDATE SKIP LOCKED)
                    RETURNING id
                    """,
                    {
                        "until": until,
                        "id": self.id,
                        "config": self.config_id.id,
                        "phone": self.phone or None,
                        "bsuid": self.bsuid or None,
                    },
                    log_exceptions=False,
                )
                held = self.browse([row[0] for row in self.env.cr.fetchall()])
        except psycopg2.extensions.TransactionRollbackError:
            return
        held.invalidate_recordset(["next_attempt"])
