"""`subscription_schedule.created`: a subscription schedule was created (a downgrade waiting
for the period end, here or in the portal).

Re-reads: the schedule (phase prices expanded), written under the version rule; the pending
change shown by `GET /api/billing` is read from it.
Facts: none.
"""

from paywire.events.appliers import refresh_schedule
from paywire.events.handling import EventHandler
from paywire.stripe import Kind

EVENT_TYPE = "subscription_schedule.created"
HANDLER = EventHandler(refresh_schedule, reads=Kind.SUBSCRIPTION_SCHEDULE)
