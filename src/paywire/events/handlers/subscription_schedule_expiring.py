"""`subscription_schedule.expiring`: a schedule will end soon.

Re-reads: the schedule (phase prices expanded), written under the version rule; the pending
change shown by `GET /api/billing` is read from it.
Facts: none.
"""

from paywire.events.appliers import refresh_schedule
from paywire.events.handling import EventHandler
from paywire.stripe import Kind

EVENT_TYPE = "subscription_schedule.expiring"
HANDLER = EventHandler(refresh_schedule, reads=Kind.SUBSCRIPTION_SCHEDULE)
