"""`refund.created`: captured when a pass was refunded in full (before `charge.refunded`). The
refund is mirrored with its status and payment, the customer is told once, the pass ends."""

from __future__ import annotations

from paywire.db.models import Refund
from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling


def test_a_refund_is_mirrored_told_once_and_a_full_one_ends_the_pass(handling: Handling) -> None:
    fixture = handling.load("refund.created")
    charge = fixture.held(Kind.CHARGE)
    order = handling.paid_order(fixture.object["payment_intent"], charge["customer"], "user_refunded")
    handling.link(charge["customer"], "user_refunded")

    [note] = handling.handle(fixture.event)
    handling.handle(fixture.redelivered())

    row = handling.mirrored(Refund, fixture.object_id)
    assert row is not None
    assert (row.status, row.amount, row.payment_id, row.user_id, row.requested_by) == (
        "succeeded",
        400,
        order.checkout_session_id,
        "user_refunded",
        None,
    )
    assert handling.facts() == [("refund_issued", f"refund_issued:{fixture.object_id}", "user_refunded")]
    assert handling.order(order.checkout_session_id).status == "refunded"
    assert note.endswith("refunded: the pass ended")


def test_a_refund_paywire_made_names_its_payment_and_who_asked(handling: Handling) -> None:
    fixture = handling.load("refund.created")
    handling.stripe.change(
        Kind.REFUND, fixture.object_id, metadata={"paywire_payment": "in_named", "paywire_requested_by": "admin_1"}
    )
    handling.stripe.change(Kind.CHARGE, str(fixture.object["charge"]), amount_refunded=100, refunded=False)

    [note] = handling.handle(fixture.event)

    row = handling.mirrored(Refund, fixture.object_id)
    assert row is not None and (row.payment_id, row.requested_by) == ("in_named", "admin_1")
    assert note.endswith("partially refunded: access kept")
