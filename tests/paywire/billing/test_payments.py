"""A user's payments from the mirror: subscription invoices and one-time purchases alike,
newest first, each listed once under a stable id."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from paywire.billing.payments import Card, payments_of
from paywire.catalog import Catalog
from paywire.db.models import Order
from paywire.db.repositories import customers, orders
from paywire.mirror import invoices as mirrored_invoices
from paywire.mirror import read_version
from tests.paywire.factories import mirror_subscription

DAY = 86_400
T0 = 1_900_000_000


def invoice(
    invoice_id: str,
    *,
    status: str,
    created: int,
    subscription: str | None = None,
    amount: int = 1000,
    reason: str = "subscription_cycle",
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    parent = {"subscription_details": {"subscription": subscription}} if subscription else None
    return {
        "id": invoice_id,
        "customer": "cus_ann",
        "status": status,
        "billing_reason": reason,
        "amount_due": amount,
        "amount_paid": amount if status == "paid" else 0,
        "currency": "usd",
        "created": created,
        "status_transitions": {"paid_at": created + 3600 if status == "paid" else None, "finalized_at": created},
        "hosted_invoice_url": None if status == "draft" else f"https://stripe.test/invoices/{invoice_id}",
        "parent": parent,
        "metadata": metadata or {},
        "lines": {"data": [{"description": "Setup"}]},
    }


def order(
    session: Session, session_id: str, *, status: str, paid_at: int | None = None, invoice_id: str | None = None
) -> Order:
    placed = orders.open_pending_order(
        session,
        user_id="ann",
        stripe_customer_id="cus_ann",
        checkout_session_id=session_id,
        product="pass-3-months",
        grants_plan="basic",
    )
    if paid_at is not None:
        assert orders.fulfil(
            session,
            placed,
            payment_intent_id=f"pi_{session_id}",
            amount_total=400,
            currency="usd",
            access_starts_at=paid_at,
            access_ends_at=paid_at + 90 * DAY,
            paid_at=paid_at,
            invoice_id=invoice_id,
            receipt_url=f"https://stripe.test/receipts/{session_id}",
        )
    if status == "refunded":
        orders.mark_refunded(session, placed)
    if status == "failed":
        orders.mark_failed(session, placed)
    session.commit()
    return placed


def test_purchases_and_invoices_newest_first_each_once(session: Session, catalog: Catalog) -> None:
    customers.add_customer(session, user_id="ann", stripe_customer_id="cus_ann", email=None)
    sub = mirror_subscription(session, "ann", plan="pro", customer="cus_ann")
    purchase_invoice = invoice("in_pass", status="paid", created=T0, amount=400, metadata={"product": "pass-3-months"})
    for fresh in (
        invoice("in_first", status="paid", created=T0 - 30 * DAY, subscription=sub.id, reason="subscription_create"),
        invoice("in_renewal", status="open", created=T0 + DAY, subscription=sub.id),
        invoice("in_draft", status="draft", created=T0 + 2 * DAY, subscription=sub.id),
        purchase_invoice,
        invoice("in_other_pass", status="paid", created=T0, amount=400, metadata={"product": "pass-3-months"}),
        invoice("in_manual", status="void", created=T0 - 40 * DAY, reason="manual"),
    ):
        mirrored_invoices.write(session, fresh, version=read_version())
    session.commit()
    order(session, "cs_paid", status="fulfilled", paid_at=T0 + 3600, invoice_id="in_pass")
    order(session, "cs_refunded", status="refunded", paid_at=T0 - 10 * DAY)
    order(session, "cs_failed", status="failed")
    order(session, "cs_waiting", status="pending")

    found = payments_of(session, catalog, "ann")

    assert [(p.id, p.kind, p.status, p.amount) for p in found] == [
        ("in_renewal", "subscription", "open", 1000),
        ("cs_paid", "purchase", "paid", 400),
        ("cs_refunded", "purchase", "refunded", 400),
        ("in_first", "subscription", "paid", 1000),
        ("in_manual", "invoice", "void", 1000),
    ]
    renewal, paid, refunded, first, manual = found
    assert (renewal.description, first.description, manual.description) == (
        "Pro subscription, renewal",
        "Pro subscription",
        "Setup",
    )
    assert (paid.description, paid.date, paid.currency) == ("3-month Basic pass", T0 + 3600, "usd")
    assert paid.invoice_url == "https://stripe.test/invoices/in_pass"
    assert paid.receipt_url == "https://stripe.test/receipts/cs_paid"
    assert refunded.invoice_url is None and first.receipt_url is None
    assert first.date == T0 - 30 * DAY + 3600, "paid invoices are dated when paid"
    assert set(paid.as_dict()) == {
        "id",
        "kind",
        "date",
        "description",
        "amount",
        "currency",
        "status",
        "invoice_url",
        "receipt_url",
    }


def test_nothing_bought_nothing_listed(session: Session, catalog: Catalog) -> None:
    assert payments_of(session, catalog, "nobody") == []


def test_a_card_is_shown_by_brand_last_four_and_expiry_only() -> None:
    card = Card.of({"id": "pm_1", "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034}})
    assert card == Card("visa", "4242", 12, 2034)
    assert card.as_dict() == {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034}
    assert Card.of({"id": "pm_2", "type": "sepa_debit"}) is None
