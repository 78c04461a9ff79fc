"""`invoice.finalized`: captured from the Pro checkout's first invoice (paid at once)."""

from __future__ import annotations

from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling


def test_the_finalized_invoice_keeps_its_subscription_period_and_link(handling: Handling) -> None:
    fixture = handling.load("invoice.finalized")
    invoice = fixture.held(Kind.INVOICE)
    handling.link(invoice["customer"])

    handling.handle(fixture.event)

    row = handling.invoice(fixture.object_id)
    assert row.subscription_id == invoice["parent"]["subscription_details"]["subscription"]
    assert (row.period_start, row.period_end) == (invoice["period_start"], invoice["period_end"])
    assert row.hosted_invoice_url is not None and row.hosted_invoice_url == invoice["hosted_invoice_url"]
    assert row.stripe_object == invoice
    assert handling.facts() == []
