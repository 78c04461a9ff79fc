"""`payment_intent.succeeded`: captured when the one-time pass was paid by card. Access from a
payment comes from `checkout.session.completed`; this only notes the payment beside its order."""

from __future__ import annotations

from tests.paywire.events.handlers.harness import Handling


def test_the_payment_is_noted_beside_the_order_it_paid(handling: Handling) -> None:
    fixture = handling.load("payment_intent.succeeded")
    order = handling.paid_order(fixture.object_id, fixture.object["customer"])

    [note] = handling.handle(fixture.event)

    assert note == f"{fixture.object_id} succeeded: order {order.id} fulfilled"
    assert handling.stripe.reads == 1
    assert handling.facts() == []


def test_a_payment_no_order_names_is_not_even_read(handling: Handling) -> None:
    fixture = handling.load("payment_intent.succeeded")

    [note] = handling.handle(fixture.event)

    assert note == f"{fixture.object_id} payment_intent.succeeded: no order"
    assert handling.stripe.reads == 0
