"""`invoice.created`: captured from the Pro checkout: the event shows the first invoice as a
draft; by the time it is handled Stripe holds it paid."""

from __future__ import annotations

from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling


def test_the_invoice_is_mirrored_as_stripe_holds_it_not_as_the_event_shows_it(handling: Handling) -> None:
    fixture = handling.load("invoice.created")
    invoice = fixture.held(Kind.INVOICE)

    [note] = handling.handle(fixture.event)

    assert fixture.object["status"] == "draft"
    row = handling.invoice(fixture.object_id)
    assert (row.status, row.amount_due, row.amount_paid, row.currency) == ("paid", 3000, 3000, "usd")
    assert row.billing_reason == "subscription_create"
    assert row.stripe_customer_id == invoice["customer"]
    assert note == f"{fixture.object_id} paid"
    assert handling.facts() == [], "what an invoice means for access arrives with its subscription"
