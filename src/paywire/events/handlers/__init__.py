"""One module per event family; each maps the event types it handles to a function
`(HandlerContext, EventGroup) -> note`. A handler treats its events as "look again": it
re-reads the object from Stripe once for all the events of the group (they are about one
object) and writes what Stripe holds now, so a duplicate, late or reordered event writes
the current state too. The note goes into each event's log line."""

from __future__ import annotations

from collections.abc import Callable

from paywire.events.handlers import (
    checkout_session,
    customer,
    customer_subscription,
    invoice,
    payment_intent,
    subscription_schedule,
    test_clock,
)
from paywire.events.handlers._event import EventGroup
from paywire.events.mirror import HandlerContext

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
