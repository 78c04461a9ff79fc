"""`invoice.updated`: captured when a draft invoice sent for payment in 30 days got its line
and a purchase order number."""

from __future__ import annotations

from tests.paywire.events.handlers.harness import Handling


def test_the_draft_is_mirrored_with_its_new_amount(handling: Handling) -> None:
    fixture = handling.load("invoice.updated")

    handling.handle(fixture.event)

    assert fixture.event["data"]["previous_attributes"]["amount_due"] == 0
    row = handling.invoice(fixture.object_id)
    assert (row.status, row.amount_due, row.billing_reason, row.subscription_id) == ("draft", 2500, "manual", None)
    assert row.stripe_object["metadata"]["po_number"] == "PO-1042"
