"""One module per event family; each maps the event types it handles to a function
`(HandlerContext, event) -> note`. A handler treats its event as "look again": it re-reads
the object from Stripe and writes what Stripe holds now, so a duplicate, late or reordered
event writes the current state too. The note goes into the event's log line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from paywire.events.handlers import (
    checkout_session,
    customer,
    customer_subscription,
    invoice,
    payment_intent,
    test_clock,
)
from paywire.events.mirror import HandlerContext

Handler = Callable[[HandlerContext, dict[str, Any]], str]

HANDLERS: dict[str, Handler] = {
    **checkout_session.HANDLERS,
    **customer_subscription.HANDLERS,
    **invoice.HANDLERS,
    **customer.HANDLERS,
    **payment_intent.HANDLERS,
    **test_clock.HANDLERS,
}


def handler_for(event_type: str) -> Handler | None:
    return HANDLERS.get(event_type)
