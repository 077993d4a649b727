"""The customer service window: free-form messages only within 24 hours of the user's
last message (Meta 131047, Twilio 63016; outside it, an approved template).

We stop sending free-form a little before the end, so that a message queued just
before it does not land outside (and come back as 131047).
"""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = ["WINDOW", "WINDOW_SAFETY", "is_window_open"]

#: The providers' customer service window.
WINDOW = timedelta(hours=24)
#: How much earlier than the providers we treat it as closed.
WINDOW_SAFETY = timedelta(minutes=5)


def is_window_open(last_inbound_at: datetime | None, at: datetime) -> bool:
    """Whether a free-form message may go at ``at`` to someone who last wrote at
    ``last_inbound_at`` (None or False: never; both naive UTC, as Odoo stores them)."""
    if not last_inbound_at:
        return False
    return last_inbound_at + WINDOW - WINDOW_SAFETY > at
