"""`invoice.paid`: captured from the Pro checkout's first invoice. Written under the version
rule, so a slow read cannot move a paid invoice back to open."""

from __future__ import annotations

from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling


def test_the_paid_invoice_is_mirrored_paid_in_full(handling: Handling) -> None:
    fixture = handling.load("invoice.paid")

    handling.handle(fixture.event)

    row = handling.invoice(fixture.object_id)
    assert (row.status, row.amount_paid, row.amount_remaining, row.attempt_count) == ("paid", 3000, 0, 1)


def test_a_slow_read_showing_it_open_does_not_move_it_back(handling: Handling) -> None:
    fixture = handling.load("invoice.paid")
    paid = fixture.held(Kind.INVOICE)
    handling.stripe.change(Kind.INVOICE, fixture.object_id, status="open", amount_paid=0, amount_remaining=3000)
    slow = handling.read_ahead((Kind.INVOICE, fixture.object_id))  # started while it was still open
    handling.store_newer(Kind.INVOICE, paid)

    [note] = handling.handle(fixture.event, reads=slow)

    assert note == f"{fixture.object_id} kept: a newer read is stored"
    assert handling.invoice(fixture.object_id).status == "paid"
