"""`customer.*`: keep the user ↔ customer link's details in step with Stripe.

The link itself (one Stripe customer per user) is made by `paywire.billing.customers` when
the user first buys; these events only follow the email and the test clock. A customer
paywire does not know is left alone: creating links from events would let any Stripe
customer carrying a `metadata.user_id` claim a user.
"""

from __future__ import annotations

from paywire.db.repositories import customers
from paywire.events.handlers._event import EventGroup, event_object_id
from paywire.events.mirror import HandlerContext, stripe_id
from paywire.stripe import StripeNotFound


def on_customer_changed(ctx: HandlerContext, group: EventGroup) -> str:
    customer_id = event_object_id(group.latest)
    if customers.find_by_stripe_id(ctx.session, customer_id) is None:
        return f"{customer_id} not linked to a user"
    try:
        fresh = ctx.gateway.retrieve_customer(customer_id)
    except StripeNotFound:
        return f"{customer_id} no longer in Stripe"
    if fresh.get("deleted"):
        # The link stays: the user's history (subscriptions, orders) still points at it.
        return f"{customer_id} deleted in Stripe"
    customers.update_details(
        ctx.session,
        customer_id,
        email=fresh.get("email"),
        test_clock_id=stripe_id(fresh.get("test_clock")),
    )
    return f"{customer_id} details updated"


HANDLERS = {f"customer.{change}": on_customer_changed for change in ("created", "updated", "deleted")}
