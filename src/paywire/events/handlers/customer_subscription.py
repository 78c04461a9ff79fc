"""`customer.subscription.*`: the subscription mirror.

Every event about a subscription, whatever it says changed, leads to one thing: re-read the
subscription (prices expanded, for the plan) and write it, subject to the version rule in
`paywire.events.mirror`; however many such events wait, one re-read serves them all. A
canceled subscription stays retrievable in Stripe, so `deleted` takes the same path and
mirrors status `canceled`. `trial_will_end` also hints the trial reminder fact.
"""

from __future__ import annotations

from paywire.events.handlers._event import EventGroup, event_object_id
from paywire.events.mirror import HandlerContext, refresh_subscription


def on_subscription_changed(ctx: HandlerContext, group: EventGroup) -> str:
    return refresh_subscription(ctx, event_object_id(group.latest))


HANDLERS = {
    f"customer.subscription.{change}": on_subscription_changed
    for change in (
        "created",
        "updated",
        "deleted",
        "paused",
        "resumed",
        "pending_update_applied",
        "pending_update_expired",
        "trial_will_end",
    )
}
