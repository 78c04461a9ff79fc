"""`invoice.overdue`: stripesim never sends it; the fixture is derived from an open invoice sent
for payment in 30 days (see its `_derived_from`)."""

from __future__ import annotations

from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import FIXTURES, Handling


def test_the_overdue_invoice_is_mirrored_open_with_no_fact_of_its_own(handling: Handling) -> None:
    fixture = handling.load("invoice.overdue")
    invoice = fixture.held(Kind.INVOICE)
    handling.link(invoice["customer"])

    handling.handle(fixture.event)

    assert '"_derived_from"' in (FIXTURES / "invoice.overdue.json").read_text()
    row = handling.invoice(fixture.object_id)
    assert (row.status, row.amount_remaining) == ("open", 2500)
    assert invoice["due_date"] is not None and row.stripe_object["due_date"] == invoice["due_date"]
    assert handling.facts() == []
