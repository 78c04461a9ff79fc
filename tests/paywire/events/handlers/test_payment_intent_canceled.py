"""`payment_intent.canceled`: captured when a payment intent was canceled before it was
confirmed. Noted beside its order; access never changes here."""

from __future__ import annotations

from tests.paywire.events.handlers.harness import Handling


def test_a_canceled_payment_leaves_a_fulfilled_order_as_it_is(handling: Handling) -> None:
    fixture = handling.load("payment_intent.canceled")
    order = handling.paid_order(fixture.object_id, fixture.object["customer"])

    [note] = handling.handle(fixture.event)

    assert note == f"{fixture.object_id} canceled: order {order.id} fulfilled"
    assert handling.order(order.checkout_session_id).status == "fulfilled"
    assert handling.facts() == []
