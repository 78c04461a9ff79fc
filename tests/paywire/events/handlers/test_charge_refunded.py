"""`charge.refunded`: captured when the one-time pass was refunded in full. A full refund ends
what the order grants; a partial one keeps it. Each refund is mirrored and is one fact."""

from __future__ import annotations

from paywire.db.models import OutboxFact
from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling


def test_a_full_refund_ends_the_pass_and_is_told_once(handling: Handling) -> None:
    fixture = handling.load("charge.refunded")
    [refund] = fixture.stripe["refunds"]
    order = handling.paid_order(fixture.object["payment_intent"], fixture.object["customer"], "user_refunded")
    handling.link(fixture.object["customer"], "user_refunded")

    handling.handle(fixture.event)
    [again] = handling.handle(fixture.redelivered())

    assert handling.order(order.checkout_session_id).status == "refunded"
    assert handling.facts() == [("refund_issued", f"refund_issued:{refund['id']}", "user_refunded")]
    assert handling.session.query(OutboxFact).one().payload["amount_refunded"] == 400
    assert again == f"{refund['id']} succeeded 400 of {order.checkout_session_id}: order {order.id} already refunded"


def test_a_partial_refund_keeps_the_pass(handling: Handling) -> None:
    fixture = handling.load("charge.refunded")
    order = handling.paid_order(fixture.object["payment_intent"], fixture.object["customer"])
    handling.stripe.change(Kind.CHARGE, fixture.object_id, refunded=False, amount_refunded=100)
    handling.stripe.refunds[0]["amount"] = 100

    [note] = handling.handle(fixture.event)

    assert note.endswith(f"of {order.checkout_session_id}: partially refunded: access kept")
    assert handling.order(order.checkout_session_id).status == "fulfilled"
    assert handling.fact_keys() == [f"refund_issued:{handling.stripe.refunds[0]['id']}"]


def test_a_charge_stripe_answers_404_for_refunds_nothing(handling: Handling) -> None:
    fixture = handling.load("charge.refunded")
    order = handling.paid_order(fixture.object["payment_intent"], fixture.object["customer"])
    handling.stripe.forget(Kind.CHARGE, fixture.object_id)

    [note] = handling.handle(fixture.event)

    assert note == f"{fixture.object_id} not found in Stripe: nothing refunded here"
    assert handling.order(order.checkout_session_id).status == "fulfilled"
    assert handling.facts() == []
