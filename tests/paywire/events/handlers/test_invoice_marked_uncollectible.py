"""`invoice.marked_uncollectible`: captured when an open invoice sent for payment was written off."""

from __future__ import annotations

from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling


def test_the_written_off_invoice_stays_owed_but_uncollectible(handling: Handling) -> None:
    fixture = handling.load("invoice.marked_uncollectible")
    handling.link(fixture.held(Kind.INVOICE)["customer"])

    handling.handle(fixture.event)

    row = handling.invoice(fixture.object_id)
    assert (row.status, row.amount_remaining, row.attempt_count) == ("uncollectible", 2500, 0)
    assert handling.facts() == [], "a write-off is no failed payment"
