"""A user's payments as they see them: what their subscription invoiced and what they bought
once, alike, newest first, from the mirror; and the card on file, from Stripe.

Each payment has a stable `id`, the Stripe object that names it for good:
- an invoice (`in_…`): what a subscription (or anything else of the customer's) invoiced;
- a purchase (`cs_…`, its Checkout Session): a one-time order, listed once paid, with the
  invoice Checkout made for it (`invoice_creation`) and its receipt. That invoice is not listed
  a second time on its own: it carries the purchase's `product` in its metadata.

The card on file is read from Stripe each time and only its brand, last four digits and
expiry are kept, in memory: no card data is stored by paywire.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from paywire.catalog import Catalog
from paywire.db.models import Invoice, Order, Subscription
from paywire.db.repositories import customers, invoices, orders, subscriptions
from paywire.stripe import Kind, StripeError, StripeGateway
from paywire.stripe.ids import id_of

# Invoices that are Stripe's work in progress (not yet the customer's to see) or deleted.
UNSHOWN_INVOICE_STATES = ("draft", "deleted")
ORDER_STATES = {"paid": "paid", "fulfilled": "paid", "refunded": "refunded"}
REASONS = {"subscription_cycle": "renewal", "subscription_update": "plan change"}


@dataclass(frozen=True)
class Payment:
    id: str
    kind: str  # "subscription" | "purchase" | "invoice"
    date: int  # when it was paid (else invoiced), unix seconds
    description: str
    amount: int  # in the currency's smallest unit: paid, or due while unpaid
    currency: str
    status: str  # paid | open | void | uncollectible | refunded
    invoice_url: str | None
    receipt_url: str | None
    # Orders payments of one date by when paywire learned of them (its own clock: a frozen test
    # clock gives a purchase and the next invoice the same date).
    tiebreak: float = field(default=0.0, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "date": self.date,
            "description": self.description,
            "amount": self.amount,
            "currency": self.currency,
            "status": self.status,
            "invoice_url": self.invoice_url,
            "receipt_url": self.receipt_url,
        }


@dataclass(frozen=True)
class Card:
    brand: str
    last4: str
    exp_month: int
    exp_year: int

    @classmethod
    def of(cls, payment_method: Mapping[str, Any]) -> Card | None:
        card = payment_method.get("card") or {}
        if not card.get("last4"):
            return None
        return cls(
            str(card.get("display_brand") or card.get("brand") or "card"),
            str(card["last4"]),
            int(card.get("exp_month") or 0),
            int(card.get("exp_year") or 0),
        )

    def as_dict(self) -> dict[str, Any]:
        return {"brand": self.brand, "last4": self.last4, "exp_month": self.exp_month, "exp_year": self.exp_year}


def payments_of(session: Session, catalog: Catalog, user_id: str) -> list[Payment]:
    """Every payment of `user_id`, newest first."""
    placed = orders.for_user(session, user_id)
    found = [purchase_payment(catalog, o, _invoice(session, o.invoice_id)) for o in placed if o.status in ORDER_STATES]
    customer = customers.find_by_user(session, user_id)
    if customer is not None:
        subs = {row.id: row for row in subscriptions.for_user(session, user_id)}
        of_orders = {o.invoice_id for o in placed if o.invoice_id}
        for invoice in invoices.for_customer(session, customer.stripe_customer_id):
            if invoice.status in UNSHOWN_INVOICE_STATES or invoice.id in of_orders or made_for_a_purchase(invoice):
                continue
            found.append(invoice_payment(catalog, invoice, subs.get(invoice.subscription_id or "")))
    found.sort(key=lambda p: (p.date, p.tiebreak, p.id), reverse=True)
    return found


def made_for_a_purchase(invoice: Invoice) -> bool:
    """An invoice Checkout made for a one-time purchase of paywire's (its metadata names the
    product): listed with its purchase, even before the purchase is fulfilled."""
    metadata = (invoice.stripe_object or {}).get("metadata") or {}
    return bool(metadata.get("product")) and invoice.subscription_id is None


def invoice_payment(catalog: Catalog, invoice: Invoice, sub: Subscription | None) -> Payment:
    obj = invoice.stripe_object or {}
    transitions = obj.get("status_transitions") or {}
    when = transitions.get("paid_at") if invoice.status == "paid" else None
    when = when or transitions.get("finalized_at") or invoice.stripe_created
    return Payment(
        id=invoice.id,
        kind="subscription" if invoice.subscription_id else "invoice",
        date=int(when),
        description=_invoice_words(catalog, invoice, sub),
        amount=invoice.amount_paid if invoice.status == "paid" else invoice.amount_due,
        currency=invoice.currency or catalog.currency,
        status=invoice.status or "open",
        invoice_url=invoice.hosted_invoice_url,
        receipt_url=None,  # the hosted invoice page of a paid invoice links its receipt
        tiebreak=invoice.synced_at.timestamp(),
    )


def purchase_payment(catalog: Catalog, order: Order, invoice: Invoice | None) -> Payment:
    product = catalog.product(order.product)
    return Payment(
        id=order.checkout_session_id,
        kind="purchase",
        date=int(order.paid_at or order.access_starts_at or order.created_at.timestamp()),
        description=product.name if product else order.product,
        amount=int(order.amount_total or 0),
        currency=order.currency or catalog.currency,
        status=ORDER_STATES[order.status],
        invoice_url=invoice.hosted_invoice_url if invoice is not None else None,
        receipt_url=order.receipt_url,
        tiebreak=order.created_at.timestamp(),
    )


def card_on_file(gateway: StripeGateway, stripe_customer_id: str, preferred: Iterable[str | None] = ()) -> Card | None:
    """The card Stripe would charge, as the customer sees it: the customer's default payment
    method, else one of `preferred` (a subscription's default), else the newest card saved on
    the customer. Reads Stripe (raises its errors); None when no card is saved."""
    customer = gateway.retrieve(Kind.CUSTOMER, stripe_customer_id)
    if customer.get("deleted"):
        return None
    cards = gateway.list_cards_of_customer(stripe_customer_id)
    by_id = {str(c.get("id")): c for c in cards}
    default = id_of((customer.get("invoice_settings") or {}).get("default_payment_method"))
    for wanted in (default, *preferred):
        if wanted and wanted in by_id:
            return Card.of(by_id[wanted])
    return Card.of(cards[0]) if cards else None


def _invoice(session: Session, invoice_id: str | None) -> Invoice | None:
    return invoices.find(session, invoice_id) if invoice_id else None


def _invoice_words(catalog: Catalog, invoice: Invoice, sub: Subscription | None) -> str:
    if sub is None:
        obj = invoice.stripe_object or {}
        lines = (obj.get("lines") or {}).get("data") or []
        first = lines[0].get("description") if lines else None
        return str(obj.get("description") or first or "Invoice")
    plan = catalog.plan(sub.plan) if sub.plan else None
    words = f"{plan.name if plan else sub.plan or 'Your'} subscription"
    reason = REASONS.get(invoice.billing_reason or "")
    return f"{words}, {reason}" if reason else words


# From an invoice payment to the receipt: its payment intent's latest charge (4 levels, Stripe's most).
RECEIPT_PATH = "payment.payment_intent.latest_charge"


def receipt_url(gateway: StripeGateway, invoice_id: str) -> str | None:
    """The receipt of the payment that paid the invoice (None if Stripe does not say): one
    request, the invoice's payments listed with their payment intent's charge."""
    try:
        for payment in gateway.list_invoice_payments(invoice_id, expand=(RECEIPT_PATH,)):
            intent = (payment.get("payment") or {}).get("payment_intent")
            if payment.get("status") != "paid" or not isinstance(intent, dict):
                continue
            charge = intent.get("latest_charge")
            url = charge.get("receipt_url") if isinstance(charge, dict) else None
            return url if isinstance(url, str) else None
    except StripeError:
        return None
    return None
