"""`invoice.will_be_due`: stripesim never sends it; the fixture is derived from an open invoice
sent for payment in 30 days (see its `_derived_from`)."""

from __future__ import annotations

from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling


def test_an_invoice_of_a_customer_paywire_does_not_know_is_mirrored_all_the_same(handling: Handling) -> None:
    fixture = handling.load("invoice.will_be_due")

    handling.handle(fixture.event)

    row = handling.invoice(fixture.object_id)
    assert (row.status, row.stripe_customer_id) == ("open", fixture.held(Kind.INVOICE)["customer"])
    assert row.next_payment_attempt is None, "sent for payment: nobody charges it"
    assert handling.facts() == []
