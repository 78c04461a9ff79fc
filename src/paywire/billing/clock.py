"""Whose "now"? A test-mode customer lives on their Stripe test clock's frozen time.

Live customers cannot have test clocks, so live mode always gets real time. In test mode
the clock's time comes from the mirrored `test_clocks` row (the events pipeline keeps it
fresh on `test_helpers.test_clock.*` events) or, when missing, from Stripe.
"""

from __future__ import annotations

import time

from sqlalchemy.orm import Session

from paywire.db.models import Customer
from paywire.db.repositories import test_clocks
from paywire.mirror import test_clocks as mirrored_clocks
from paywire.stripe import Kind, StripeError, StripeGateway


def customer_now(session: Session, customer: Customer | None, gateway: StripeGateway | None = None) -> int:
    """Unix seconds in the customer's time."""
    if customer is None or not customer.test_clock_id:
        return int(time.time())
    clock = test_clocks.find(session, customer.test_clock_id)
    if clock is not None:
        return clock.frozen_time
    if gateway is not None and not gateway.livemode:
        try:
            fresh = gateway.retrieve(Kind.TEST_CLOCK, customer.test_clock_id)
        except StripeError:
            return int(time.time())
        saved = mirrored_clocks.save(session, fresh)
        session.commit()
        return saved.frozen_time
    return int(time.time())
