"""`invoice.payment_succeeded`: captured from the Pro checkout's first invoice. Stripe sends it
beside `invoice.paid`; both re-read the invoice the same way."""

from __future__ import annotations

from tests.paywire.events.handlers.harness import Handling


def test_it_and_invoice_paid_about_one_invoice_share_one_read(handling: Handling) -> None:
    fixture = handling.load("invoice.payment_succeeded")
    paid = {**fixture.redelivered(), "id": "evt_paid_beside_it", "type": "invoice.paid"}

    [note] = handling.handle(fixture.event, paid)

    assert note == f"{fixture.object_id} paid"
    assert handling.stripe.calls[("invoice", fixture.object_id)] == 1, "one read of the invoice"
    assert handling.invoice(fixture.object_id).amount_paid == 3000
