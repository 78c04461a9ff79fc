"""`test_helpers.test_clock.*`: the test clock mirror, whose frozen time is "now" for the
clock's customers (see `paywire.billing.clock`). Clocks only move forward, and the
repository ignores an older frozen time, so late events cannot turn a clock back."""

from __future__ import annotations

from paywire.db.repositories import test_clocks
from paywire.events.handlers._event import EventGroup, event_object_id
from paywire.events.mirror import HandlerContext
from paywire.stripe import StripeNotFound


def on_clock_changed(ctx: HandlerContext, group: EventGroup) -> str:
    clock_id = event_object_id(group.latest)
    try:
        fresh = ctx.gateway.retrieve_test_clock(clock_id)
    except StripeNotFound:
        return f"{clock_id} deleted"
    saved = test_clocks.save_clock(ctx.session, clock_id, frozen_time=int(fresh["frozen_time"]), status=fresh["status"])
    return f"{clock_id} {saved.status} at {saved.frozen_time}"


HANDLERS = {
    f"test_helpers.test_clock.{change}": on_clock_changed
    for change in ("created", "advancing", "ready", "internal_failure", "deleted")
}
