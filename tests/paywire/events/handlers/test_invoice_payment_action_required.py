"""`invoice.payment_action_required`: captured when a card asking for 3-D Secure on every charge
paid a Pro subscription's first invoice. A fact while the invoice is still open."""

from __future__ import annotations

from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling


def test_the_customer_is_asked_to_confirm_the_payment_once_per_attempt(handling: Handling) -> None:
    fixture = handling.load("invoice.payment_action_required")
    invoice = fixture.held(Kind.INVOICE)
    handling.link(invoice["customer"], "user_3ds")

    handling.handle(fixture.event)
    handling.handle(fixture.redelivered())

    key = f"payment_action_required:{fixture.object_id}:1"
    reminder = f"payment_action_reminder:{fixture.object_id}:1"
    assert handling.facts() == [
        ("payment_action_required", key, "user_3ds"),
        ("payment_action_reminder", reminder, "user_3ds"),
    ]
    assert handling.invoice(fixture.object_id).status == "open"


def test_an_invoice_voided_since_asks_for_nothing(handling: Handling) -> None:
    fixture = handling.load("invoice.payment_action_required")
    handling.stripe.change(Kind.INVOICE, fixture.object_id, status="void")

    handling.handle(fixture.event)

    assert handling.facts() == []
    assert handling.invoice(fixture.object_id).status == "void"
