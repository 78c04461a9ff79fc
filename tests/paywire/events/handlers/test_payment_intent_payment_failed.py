"""`payment_intent.payment_failed`: captured when a card was declined on a pass checkout's page.
Noted only: the checkout stays open for another card, and its order pending."""

from __future__ import annotations

from tests.paywire.events.handlers.harness import Handling


def test_a_declined_attempt_leaves_the_pending_order_to_its_checkout(handling: Handling) -> None:
    fixture = handling.load("payment_intent.payment_failed")
    pending = handling.open_order(
        {"id": "cs_test_still_open", "customer": fixture.object["customer"], "metadata": {"product": "pass-3-months"}}
    )

    [note] = handling.handle(fixture.event)

    assert fixture.object["last_payment_error"]["decline_code"] == "generic_decline"
    assert note == f"{fixture.object_id} payment_intent.payment_failed: no order"
    assert handling.order(pending.checkout_session_id).status == "pending"
    assert handling.stripe.reads == 0 and handling.facts() == []
