"""`charge.dispute.closed`: captured when the bank decided a disputed pass's dispute (won). A won
dispute is told to the team; a lost one also ends what the payment paid for: a pass at once, a
subscription through `dispute_lost`."""

from __future__ import annotations

from paywire.db.models import Dispute, OutboxFact
from paywire.stripe import Kind
from tests.paywire.events.handlers.dispute_support import disputed_invoice, disputed_pass
from tests.paywire.events.handlers.harness import Handling


def test_a_won_dispute_is_closed_and_told(handling: Handling) -> None:
    fixture = handling.load("charge.dispute.closed")
    order = disputed_pass(handling, fixture)

    handling.handle(fixture.event)
    handling.handle(fixture.redelivered())

    row = handling.mirrored(Dispute, fixture.object_id)
    assert row is not None and (row.status, row.closed_at) == ("won", fixture.event["created"])
    assert sorted(handling.fact_keys()) == [
        f"dispute_closed:{fixture.object_id}",
        f"dispute_opened:{fixture.object_id}",
    ]
    assert handling.order(order.checkout_session_id).status == "fulfilled"


def test_a_lost_dispute_ends_the_pass(handling: Handling) -> None:
    fixture = handling.load("charge.dispute.closed")
    order = disputed_pass(handling, fixture)
    handling.stripe.change(Kind.DISPUTE, fixture.object_id, status="lost")

    [note] = handling.handle(fixture.event)

    assert note.endswith(f"order {order.id}'s pass ended")
    assert handling.order(order.checkout_session_id).status == "refunded"
    assert f"dispute_lost:{fixture.object_id}" in handling.fact_keys()


def test_a_lost_dispute_of_a_subscription_payment_ends_it_through_its_fact(handling: Handling) -> None:
    fixture = handling.load("charge.dispute.closed")
    subscription_id = disputed_invoice(handling, fixture)
    handling.stripe.change(Kind.DISPUTE, fixture.object_id, status="lost")

    handling.handle(fixture.event)

    lost = handling.session.query(OutboxFact).filter_by(kind="dispute_lost").one()
    assert (lost.user_id, lost.payload["subscription_id"], lost.payload["payment_id"]) == (
        "user_disputed",
        subscription_id,
        "in_disputed",
    )
    row = handling.mirrored(Dispute, fixture.object_id)
    assert row is not None and (row.status, row.payment_id) == ("lost", "in_disputed")
