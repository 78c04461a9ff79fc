"""`test_helpers.test_clock.ready`: a test clock finished moving: its frozen time is the new "now" of its customers.

Re-reads: the clock; its mirror only moves forward, so a late event cannot turn it back.
Facts: the dispute deadline reminders now due for its customers
(`dispute_reminder:<dispute>:<n>d`, `paywire.billing.disputes`).
"""

from __future__ import annotations

from collections.abc import Sequence

from paywire.events.appliers import refresh_test_clock
from paywire.events.handling import EventGroup, EventHandler, FactRule, HandlerContext
from paywire.events.payment_appliers import clock_reminders
from paywire.stripe import Kind

EVENT_TYPE = "test_helpers.test_clock.ready"


def moved(ctx: HandlerContext, group: EventGroup, rules: Sequence[FactRule]) -> str:
    note = refresh_test_clock(ctx, group, rules)
    reminders = clock_reminders(ctx, group.object_id)
    return f"{note}; {reminders} dispute reminder(s)" if reminders else note


HANDLER = EventHandler(moved, reads=Kind.TEST_CLOCK)
