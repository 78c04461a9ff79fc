"""Buying from sellers: what is sold, by whom, at what price and fee, all decided on the server.

- One product from one seller: Checkout in payment mode with a **destination charge**: the
  payment is the platform's, paid on to the seller's connected account
  (`payment_intent_data.transfer_data.destination`), the platform keeping its fee
  (`application_fee_amount`); `on_behalf_of` the seller when PAYWIRE_CONNECT_ON_BEHALF_OF says so.
- Several sellers in one order: **separate charges and transfers**: one payment in a
  `transfer_group`, and once it succeeded one transfer per line to its seller
  (`pay_sellers`, from the verified webhook), each the line's price less the platform's fee,
  tied to the charge (`source_transaction`: it waits for the charge's funds).
- A seller's plan: a subscription whose invoices are paid to the seller (`transfer_data`,
  `application_fee_percent`), through the subscription checkout (`destination_for`).

The fee is the catalog's (`fee_percent`, `fee_fixed`) unless an admin set the seller's own; a
seller must be able to sell now (`seller_status`), and nobody buys from themselves.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from paywire.billing.checkout import MAX_CHECKOUT_ATTEMPTS, CheckoutStarted
from paywire.billing.checkout_sessions import Destination
from paywire.billing.customers import get_or_create_customer
from paywire.billing.errors import BillingUnavailable, InvalidChoice, ProductNotFound, SellerUnavailable
from paywire.billing.prices import PriceBook
from paywire.billing.seller_status import status_of
from paywire.catalog import Catalog, MarketplaceProduct, Plan, platform_fee
from paywire.config import Settings
from paywire.db.models import MarketplaceOrder, Seller
from paywire.db.repositories import connect, sellers
from paywire.metrics import CHECKOUT_SESSIONS
from paywire.stripe import Kind, StripeGateway, StripeNotFound, StripeUnavailable
from paywire.stripe import idempotency as keys

# At most this many lines in one order (Checkout takes 100 line items; an order is a basket).
MAX_LINES = 20
MARKETPLACE_RETURN_PATH = "/marketplace?checkout=done"
MARKETPLACE_CANCEL_PATH = "/marketplace?checkout=canceled"


@dataclass(frozen=True)
class Line:
    """One product from one seller, priced: what the buyer pays, and the platform's fee."""

    product: MarketplaceProduct
    seller: Seller
    amount: int
    fee: int

    @property
    def seller_gets(self) -> int:
        return self.amount - self.fee


def fee_terms(seller: Seller, percent: Decimal, fixed: int) -> tuple[Decimal, int]:
    """The seller's own terms where an admin set them, else the catalog's."""
    return (
        Decimal(seller.fee_percent) if seller.fee_percent is not None else percent,
        seller.fee_fixed if seller.fee_fixed is not None else fixed,
    )


def selling_seller(session: Session, settings: Settings, seller_user_id: str, buyer_user_id: str) -> Seller:
    """The seller named, if they can sell now (else `SellerUnavailable`, in words)."""
    seller = sellers.find_by_user(session, seller_user_id)
    if seller is None:
        raise SellerUnavailable(f"No seller {seller_user_id!r}.", code="seller_not_found")
    if seller.user_id == buyer_user_id:
        raise SellerUnavailable("You cannot buy from yourself.", code="own_product")
    status = status_of(seller, needs_card_payments=settings.connect_on_behalf_of)
    if not status.can_sell:
        raise SellerUnavailable(f"This seller cannot sell right now: {status.headline}.", code="seller_not_enabled")
    return seller


def price_lines(
    session: Session, catalog: Catalog, settings: Settings, *, buyer_user_id: str, wanted: Sequence[tuple[str, str]]
) -> list[Line]:
    """Each (product, seller user id) the buyer asks for, priced by the catalog."""
    if not wanted:
        raise InvalidChoice("Name at least one product and its seller.", field="items")
    if len(wanted) > MAX_LINES:
        raise InvalidChoice(f"An order has at most {MAX_LINES} items.", field="items")
    lines = []
    for product_key, seller_user_id in wanted:
        product = catalog.marketplace_product(product_key)
        if product is None:
            raise ProductNotFound(f"No product {product_key!r} is sold by sellers.")
        seller = selling_seller(session, settings, seller_user_id, buyer_user_id)
        percent, fixed = fee_terms(seller, product.fee_percent, product.fee_fixed)
        lines.append(Line(product, seller, product.price, platform_fee(product.price, percent, fixed)))
    return lines


def destination_for(
    session: Session, settings: Settings, plan: Plan, *, seller_user_id: str, buyer_user_id: str
) -> Destination:
    """A subscription to `plan` from the seller: paid to them, the platform keeping its share."""
    seller = selling_seller(session, settings, seller_user_id, buyer_user_id)
    percent, _ = fee_terms(seller, plan.fee_percent, 0)
    return Destination(seller.id, seller.user_id, percent, on_behalf_of=settings.connect_on_behalf_of)


def transfer_group_of(user_id: str, signature: str, bucket: int, variant: str) -> str:
    """The order's transfer group, derived like its idempotency key (a replayed request must
    send the same parameters)."""
    digest = hashlib.sha256(f"{user_id}:{signature}:{bucket}:{variant}".encode()).hexdigest()[:24]
    return f"order_{digest}"


def checkout_params(
    lines: Sequence[Line],
    *,
    user_id: str,
    customer_id: str,
    price_ids: Sequence[str],
    transfer_group: str,
    on_behalf_of: bool,
    success_url: str,
    cancel_url: str,
) -> dict[str, Any]:
    """The Checkout Session of an order. Pure. One line: a destination charge; several: one
    charge in `transfer_group`, its transfers made after payment."""
    if len(lines) == 1:
        line = lines[0]
        metadata = {
            "user_id": user_id,
            "marketplace": "sale",
            "product": line.product.key,
            "seller": line.seller.user_id,
        }
        intent: dict[str, Any] = {
            "description": line.product.name,
            "metadata": metadata,
            "transfer_data": {"destination": line.seller.id},
            "application_fee_amount": line.fee,
            "transfer_group": transfer_group,
        }
        if on_behalf_of:
            intent["on_behalf_of"] = line.seller.id
    else:
        metadata = {"user_id": user_id, "marketplace": "order", "transfer_group": transfer_group}
        sellers_named = len({line.seller.id for line in lines})
        intent = {
            "description": f"Order of {len(lines)} items from {sellers_named} sellers",
            "metadata": metadata,
            "transfer_group": transfer_group,
        }
    return {
        "mode": "payment",
        "customer": customer_id,
        "client_reference_id": user_id,
        "line_items": [{"price": price_id, "quantity": 1} for price_id in price_ids],
        "success_url": success_url,
        "cancel_url": cancel_url,
        "metadata": metadata,
        "payment_intent_data": intent,
    }


def start_marketplace_checkout(
    session: Session,
    gateway: StripeGateway,
    catalog: Catalog,
    prices: PriceBook,
    settings: Settings,
    *,
    user_id: str,
    email: str | None,
    wanted: Sequence[tuple[str, str]],
    now: float | None = None,
) -> CheckoutStarted:
    """Create (or, for a repeated request, find again) the Checkout Session of an order."""
    lines = price_lines(session, catalog, settings, buyer_user_id=user_id, wanted=wanted)
    customer = get_or_create_customer(session, gateway, user_id=user_id, email=email, own_clock=settings.test_clocks)
    price_ids = [prices.price_id_for(line.product.lookup_key) for line in lines]
    signature = ",".join(f"{line.product.key}@{line.seller.id}" for line in lines)
    terms = ",".join(f"{price}:{line.fee}" for price, line in zip(price_ids, lines, strict=True))
    bucket = keys.time_bucket(time.time() if now is None else now)
    dead: str | None = None
    try:
        for _ in range(MAX_CHECKOUT_ATTEMPTS):
            variant = terms + (f":after:{dead}" if dead else "")
            group = transfer_group_of(user_id, signature, bucket, variant)
            params = checkout_params(
                lines,
                user_id=user_id,
                customer_id=customer.stripe_customer_id,
                price_ids=price_ids,
                transfer_group=group,
                on_behalf_of=settings.connect_on_behalf_of,
                success_url=settings.app_link(MARKETPLACE_RETURN_PATH),
                cancel_url=settings.app_link(MARKETPLACE_CANCEL_PATH),
            )
            created = gateway.create_checkout_session(
                params, idempotency_key=keys.marketplace_checkout(user_id, signature, bucket, variant)
            )
            current = _open_now(gateway, str(created["id"]))
            if current is not None:
                break
            dead = str(created["id"])  # paid or expired since: this is a new purchase
        else:
            raise BillingUnavailable("Billing is temporarily unavailable; try again.")
    except StripeUnavailable as exc:
        raise BillingUnavailable("Billing is temporarily unavailable; try again.") from exc
    if len(lines) > 1:
        connect.open_order(
            session,
            checkout_session_id=current["id"],
            buyer_user_id=user_id,
            transfer_group=group,
            currency=catalog.currency,
            lines=[
                {
                    "product": line.product.key,
                    "seller_user_id": line.seller.user_id,
                    "account_id": line.seller.id,
                    "amount": line.amount,
                    "platform_fee": line.fee,
                }
                for line in lines
            ],
        )
    CHECKOUT_SESSIONS.labels(mode="marketplace").inc()
    return CheckoutStarted(url=current["url"], session_id=current["id"])


def _open_now(gateway: StripeGateway, checkout_session_id: str) -> dict[str, Any] | None:
    try:
        current = gateway.retrieve(Kind.CHECKOUT_SESSION, checkout_session_id)
    except StripeNotFound:
        return None
    return current if current.get("status") == "open" and current.get("url") else None


def pay_sellers(gateway: StripeGateway, order: MarketplaceOrder, *, charge_id: str) -> dict[str, str]:
    """The transfers of a paid multi-seller order, one per line not paid yet: {line: transfer}.
    Each carries an idempotency key of its order and line, so doing this again (a redelivered
    event, a retried batch) makes none twice."""
    made: dict[str, str] = {}
    for index, line in enumerate(order.lines):
        if str(index) in (order.transfers or {}):
            continue
        transfer = gateway.connect.create_transfer(
            destination=str(line["account_id"]),
            amount=int(line["amount"]) - int(line["platform_fee"]),
            currency=order.currency,
            transfer_group=order.transfer_group,
            source_transaction=charge_id,
            metadata={
                "buyer_user_id": order.buyer_user_id,
                "product": str(line["product"]),
                "gross": str(line["amount"]),
                "platform_fee": str(line["platform_fee"]),
                "order": order.checkout_session_id,
            },
            idempotency_key=keys.seller_transfer(order.checkout_session_id, index),
        )
        made[str(index)] = str(transfer["id"])
    return made
