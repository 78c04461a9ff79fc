"""`refund.updated`: captured when a refund to a card that cannot take it failed. The refund is
mirrored failed with Stripe's reason; the team is told; the pass is kept (nothing was refunded)."""

from __future__ import annotations

from paywire.db.models import Refund
from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling


def test_a_failed_refund_is_mirrored_and_the_team_told(handling: Handling) -> None:
    fixture = handling.load("refund.updated")
    charge = fixture.held(Kind.CHARGE)
    order = handling.paid_order(fixture.object["payment_intent"], charge["customer"], "user_refund_failed")

    handling.handle(fixture.event)

    row = handling.mirrored(Refund, fixture.object_id)
    assert row is not None and (row.status, row.failure_reason) == ("failed", "expired_or_canceled_card")
    assert handling.facts() == [("refund_failed", f"refund_failed:{fixture.object_id}", "user_refund_failed")]
    assert handling.order(order.checkout_session_id).status == "fulfilled"


def test_a_pending_refund_that_succeeds_is_told_once(handling: Handling) -> None:
    fixture = handling.load("refund.updated")
    handling.stripe.change(Kind.REFUND, fixture.object_id, status="pending", failure_reason=None)
    handling.handle(fixture.event)
    handling.stripe.change(Kind.REFUND, fixture.object_id, status="succeeded")
    handling.handle(fixture.redelivered())

    row = handling.mirrored(Refund, fixture.object_id)
    assert row is not None and row.status == "succeeded"
    assert handling.fact_keys() == [f"refund_issued:{fixture.object_id}"]
