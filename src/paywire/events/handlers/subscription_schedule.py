"""`subscription_schedule.*`: the schedules mirror, where a change waiting for the period end
(a downgrade, also one made in the customer portal) lives. The schedule is re-read and
written by `paywire.billing.sync.refresh_schedule`, under the same version rule as
subscriptions, so `GET /api/billing` shows the pending change whoever scheduled it."""

from __future__ import annotations

from paywire.billing.sync import refresh_schedule
from paywire.events.handlers._event import EventGroup, event_object_id
from paywire.events.mirror import HandlerContext, read_version


def on_schedule_changed(ctx: HandlerContext, group: EventGroup) -> str:
    return refresh_schedule(ctx.session, ctx.gateway, event_object_id(group.latest), stripe_version=read_version())


HANDLERS = {
    f"subscription_schedule.{change}": on_schedule_changed
    for change in ("created", "updated", "released", "canceled", "completed", "aborted", "expiring")
}
