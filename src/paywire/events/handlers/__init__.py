"""One module per event family; each maps the event types it handles to a function
`(HandlerContext, EventGroup) -> note`. A handler treats its events as "look again": it
re-reads the object from Stripe once for all the events of the group (they are about one
object) and writes what Stripe holds now, so a duplicate, late or reordered event writes
the current state too. The note goes into each event's log line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from paywire.events.handlers import (
    checkout_session,
    customer,
    customer_subscription,
    invoice,
    payment_intent,
    subscription_schedule,
    test_clock,
)
from paywire.events.handlers._event import EventGroup, event_object
from paywire.events.mirror import SUBSCRIPTION_EXPAND, HandlerContext, stripe_id
from paywire.events.reads import ReadKey

Handler = Callable[[HandlerContext, EventGroup], str]

HANDLERS: dict[str, Handler] = {
    **checkout_session.HANDLERS,
    **customer_subscription.HANDLERS,
    **invoice.HANDLERS,
    **customer.HANDLERS,
    **payment_intent.HANDLERS,
    **subscription_schedule.HANDLERS,
    **test_clock.HANDLERS,
}


def handler_for(event_type: str) -> Handler | None:
    return HANDLERS.get(event_type)


def foreseen_reads(event_type: str, event: dict[str, Any]) -> list[ReadKey]:
    """The Stripe reads the handler of this event will make, as far as the event tells: the
    worker makes them before the handler runs, all of a batch at once (`paywire.events.reads`).
    A read not foreseen is still made when the handler asks; one foreseen but not asked for
    costs one request, so only sure ones are listed (a customer is read only if linked to a
    user, a payment intent only if an order names it: those are left to the handler)."""
    obj = event_object(event)
    object_id = obj.get("id")
    if not isinstance(object_id, str) or not object_id:
        return []
    family = event_type.rsplit(".", 1)[0]
    if family == "customer.subscription":
        return [("retrieve_subscription", object_id, SUBSCRIPTION_EXPAND)]
    if family == "invoice":
        return [("retrieve_invoice", object_id, ())]
    if family == "checkout.session":
        reads: list[ReadKey] = [("retrieve_checkout_session", object_id, ())]
        subscription_id = stripe_id(obj.get("subscription"))
        if obj.get("mode") == "subscription" and subscription_id and event_type in checkout_session.COMPLETED:
            reads.append(("retrieve_subscription", subscription_id, SUBSCRIPTION_EXPAND))
        return reads
    if event_type == "charge.refunded":
        return [("retrieve_charge", object_id, ())]
    if family == "test_helpers.test_clock":
        return [("retrieve_test_clock", object_id, ())]
    return []
