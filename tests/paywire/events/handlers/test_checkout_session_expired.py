"""`checkout.session.expired`: captured when a pass checkout, declined once, was abandoned and
expired. Stripe's current state wins over the event."""

from __future__ import annotations

from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling


def test_the_abandoned_checkouts_pending_order_fails(handling: Handling) -> None:
    fixture = handling.load("checkout.session.expired")
    handling.open_order(fixture.object)

    handling.handle(fixture.event)
    [again] = handling.handle(fixture.redelivered())

    assert handling.order(fixture.object_id).status == "failed"
    assert again == f"{fixture.object_id} order unchanged: failed"


def test_a_session_stripe_says_was_paid_after_all_is_fulfilled(handling: Handling) -> None:
    fixture = handling.load("checkout.session.expired")
    handling.open_order(fixture.object)
    handling.stripe.change(Kind.CHECKOUT_SESSION, fixture.object_id, payment_status="paid", payment_intent="pi_late")

    handling.handle(fixture.event)

    order = handling.order(fixture.object_id)
    assert (order.status, order.payment_intent_id) == ("fulfilled", "pi_late")
    assert handling.fact_keys() == [f"pass_fulfilled:{fixture.object_id}"]


def test_a_session_without_an_order_changes_nothing(handling: Handling) -> None:
    fixture = handling.load("checkout.session.expired")

    [note] = handling.handle(fixture.event)

    assert note == f"{fixture.object_id} expired: no order"
