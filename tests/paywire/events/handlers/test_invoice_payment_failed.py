"""`invoice.payment_failed`: a renewal's charge was declined (captured: a Basic subscription
whose card starts failing). One fact per attempt while the invoice is open, for its user."""

from __future__ import annotations

from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling


def test_a_declined_renewal_records_the_failed_attempt_for_the_user(handling: Handling) -> None:
    fixture = handling.load("invoice.payment_failed")
    invoice = fixture.held(Kind.INVOICE)
    handling.link(invoice["customer"], "user_renewal")

    handling.handle(fixture.event, fixture.redelivered())

    row = handling.invoice(invoice["id"])
    assert (row.status, row.attempt_count, row.billing_reason) == ("open", 1, "subscription_cycle")
    assert row.subscription_id == invoice["parent"]["subscription_details"]["subscription"]
    assert handling.facts() == [("payment_failed", f"payment_failed:{invoice['id']}:1", "user_renewal")]
    assert handling.stripe.reads == 1, "a duplicate delivery shares the one re-read"


def test_an_invoice_paid_since_the_failure_records_nothing(handling: Handling) -> None:
    fixture = handling.load("invoice.payment_failed")
    handling.stripe.change(Kind.INVOICE, fixture.object_id, status="paid", amount_remaining=0)

    handling.handle(fixture.event)

    assert handling.facts() == [], "the event's stale snapshot says open; Stripe says paid"
    assert handling.invoice(fixture.object_id).status == "paid"
