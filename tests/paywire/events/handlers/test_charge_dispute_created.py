"""`charge.dispute.created`: captured when a pass paid with Stripe's dispute test card was
disputed. The dispute is read and mirrored (amount, reason, status, evidence deadline, whose
payment), and the team is alerted once (`dispute_opened`)."""

from __future__ import annotations

from paywire.db.models import Dispute
from tests.paywire.events.handlers.dispute_support import disputed_pass
from tests.paywire.events.handlers.harness import Handling


def test_the_dispute_is_mirrored_with_its_deadline_and_alerted_once(handling: Handling) -> None:
    fixture = handling.load("charge.dispute.created")
    order = disputed_pass(handling, fixture)

    [note] = handling.handle(fixture.event)
    handling.handle(fixture.redelivered())

    row = handling.mirrored(Dispute, fixture.object_id)
    assert row is not None
    assert (row.charge_id, row.amount, row.reason, row.status) == (
        fixture.object["charge"],
        400,
        "fraudulent",
        "needs_response",
    )
    assert row.evidence_due_by == fixture.object["evidence_details"]["due_by"]
    assert (row.user_id, row.payment_id, row.submission_count, row.has_evidence) == (
        "user_disputed",
        order.checkout_session_id,
        0,
        False,
    )
    assert row.network_reason_code == "10.4"
    assert note == f"{fixture.object_id} needs_response for {order.checkout_session_id}"
    assert handling.facts() == [("dispute_opened", f"dispute_opened:{fixture.object_id}", "user_disputed")]
    assert handling.order(order.checkout_session_id).status == "fulfilled", "an open dispute keeps access"


def test_a_dispute_of_a_payment_paywire_does_not_know_is_mirrored_without_its_payment(handling: Handling) -> None:
    fixture = handling.load("charge.dispute.created")

    [note] = handling.handle(fixture.event)

    row = handling.mirrored(Dispute, fixture.object_id)
    # The user is named by the charge's metadata (paywire's own on everything it makes).
    assert row is not None and (row.user_id, row.payment_id) == ("user_fixture_pass_disputed", None)
    assert note == f"{fixture.object_id} needs_response for {fixture.object['charge']}"
    assert handling.fact_keys() == [f"dispute_opened:{fixture.object_id}"]
