"""Sellers: a user of the product becomes one by getting a connected account (Stripe Connect,
Accounts v2: `paywire.stripe.connect`), onboards on Stripe's hosted pages, and sells once
Stripe lets the account receive transfers (`seller_status`).

- `become_seller`: the account, created once per user (an idempotency key from the user id,
  the row unique per user and per account), its first state mirrored from the answer.
- `onboarding_url`: a fresh single-use link to Stripe-hosted onboarding, or, once onboarded, to
  update what Stripe holds (the same page fixes a requirement). Links expire within minutes;
  Stripe then sends the browser to `refresh_url` (`SELLER_REFRESH_PATH`), which makes a new one.
- `dashboard_url`: a login link to the seller's Express Dashboard.
- `refresh_seller`: the account and its balance read again now (the return from onboarding;
  the events that follow only confirm it).
- `seller_report`: what the seller sees (`GET /api/seller`, the seller page): state in words,
  balance, sales and the platform's fees, payouts, disputes.
- `refund_sale` (admins): refund a sale, taking back from the seller what the platform's
  policy says (PAYWIRE_CONNECT_REFUND_REVERSES_TRANSFER, PAYWIRE_CONNECT_REFUND_REFUNDS_FEE).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from paywire.billing.errors import BillingError, BillingUnavailable, NotASeller
from paywire.billing.seller_status import SellerStatus, status_of
from paywire.config import Settings
from paywire.db.models import ConnectTransfer, Seller
from paywire.db.repositories import connect, sellers
from paywire.mirror import connect as mirrored
from paywire.mirror import read_version
from paywire.stripe import Kind, StripeGateway, StripeIdempotencyConflict, StripeNotFound, StripeUnavailable
from paywire.stripe import idempotency as keys
from paywire.stripe.ids import id_of

log = logging.getLogger("paywire.billing")

# Where Stripe's onboarding sends the browser back: an expired or used link (refresh), the end
# of the flow (return). Both are pages of the seller's (paywire.web.pages.seller).
SELLER_PAGE = "/seller"
SELLER_REFRESH_PATH = "/seller/onboarding/refresh"
SELLER_RETURN_PATH = "/seller/onboarding/return"


def seller_of(session: Session, user_id: str) -> Seller:
    found = sellers.find_by_user(session, user_id)
    if found is None:
        raise NotASeller("You are not a seller yet: start with POST /api/seller/onboarding.")
    return found


def become_seller(
    session: Session, gateway: StripeGateway, settings: Settings, *, user_id: str, email: str | None
) -> Seller:
    """The user's seller row and connected account, made on first use."""
    found = sellers.find_by_user(session, user_id)
    if found is not None:
        return found
    version = read_version()
    try:
        account = gateway.connect.create_account(
            user_id=user_id,
            email=email,
            display_name=email,
            country=settings.connect_country,
            idempotency_key=keys.connect_account(user_id),
        )
    except StripeIdempotencyConflict:
        # The key was first used with other details (a changed email within 24 h): the account
        # exists; adopt it.
        account = _existing_account(gateway, user_id)
    except StripeUnavailable as exc:
        raise BillingUnavailable("Stripe is unavailable; try again shortly.") from exc
    seller = sellers.add(
        session,
        user_id=user_id,
        account_id=str(account["id"]),
        email=email,
        display_name=email,
        livemode=bool(account.get("livemode")),
    )
    if seller.id == account["id"]:
        mirrored.write_seller(session, account, version=version)
        session.commit()
    return seller


def _existing_account(gateway: StripeGateway, user_id: str) -> dict[str, Any]:
    for account in gateway.connect.list_accounts():
        if (account.get("metadata") or {}).get("user_id") == user_id:
            return account
    raise BillingUnavailable("Stripe could not create your seller account; try again shortly.")


def onboarding_url(
    session: Session, gateway: StripeGateway, settings: Settings, *, user_id: str, email: str | None
) -> str:
    """A fresh link to Stripe-hosted onboarding (or to update the account's details)."""
    seller = become_seller(session, gateway, settings, user_id=user_id, email=email)
    update = status_of(seller).state not in ("none", "onboarding")
    try:
        link = gateway.connect.account_link(
            seller.id,
            update=update,
            refresh_url=settings.app_link(SELLER_REFRESH_PATH),
            return_url=settings.app_link(SELLER_RETURN_PATH),
        )
    except StripeUnavailable as exc:
        raise BillingUnavailable("Stripe is unavailable; try again shortly.") from exc
    return str(link["url"])


def dashboard_url(session: Session, gateway: StripeGateway, *, user_id: str) -> str:
    """A single-use login link to the seller's Express Dashboard (payouts, bank account)."""
    seller = seller_of(session, user_id)
    try:
        return str(gateway.connect.login_link(seller.id)["url"])
    except StripeUnavailable as exc:
        raise BillingUnavailable("Stripe is unavailable; try again shortly.") from exc


def refresh_seller(session: Session, gateway: StripeGateway, seller: Seller) -> Seller:
    """Read the seller's account and balance again now, and mirror them."""
    version = read_version()
    try:
        account = gateway.connect.retrieve_account(seller.id)
        balance = gateway.connect.balance(seller.id)
    except StripeUnavailable as exc:
        raise BillingUnavailable("Stripe is unavailable; try again shortly.") from exc
    mirrored.write_seller(session, account, version=version)
    mirrored.write_balance(session, seller.id, balance, version=version)
    session.commit()
    session.refresh(seller)
    return seller


def seller_report(session: Session, seller: Seller, settings: Settings) -> dict[str, Any]:
    """What a seller sees of their business on the platform. Amounts in the smallest unit."""
    status = status_of(seller, needs_card_payments=settings.connect_on_behalf_of)
    transfers = connect.transfers_of(session, seller.id)
    charge_ids = [t.charge_id for t in transfers if t.charge_id]
    fees = connect.fees_of_charges(session, charge_ids)
    disputes = connect.disputes_of_charges(session, charge_ids)
    sales = []
    for transfer in transfers:
        fee_row = fees.get(transfer.charge_id or "")
        # The fee row, once mirrored, also says what of the fee was refunded; before it arrives
        # the charge's own application_fee_amount stands for it.
        fee = (fee_row.amount - fee_row.amount_refunded) if fee_row is not None else (transfer.platform_fee or 0)
        gross = transfer.gross if transfer.gross is not None else transfer.amount
        dispute = disputes.get(transfer.charge_id or "")
        sales.append(
            {
                "id": transfer.id,
                "charge": transfer.charge_id,
                "date": transfer.stripe_created,
                "product": transfer.product,
                "gross": gross,
                "fee": fee,
                "net": gross - fee - transfer.amount_reversed,
                "refunded": transfer.amount_reversed,
                "currency": transfer.currency,
                "dispute": None
                if dispute is None
                else {"id": dispute.id, "status": dispute.status, "reason": dispute.reason, "amount": dispute.amount},
            }
        )
    payouts = [
        {
            "id": p.id,
            "amount": p.amount,
            "currency": p.currency,
            "status": p.status,
            "arrival_date": p.arrival_date,
            "failure_code": p.failure_code,
            "failure_message": p.failure_message,
        }
        for p in connect.payouts_of(session, seller.id)
    ]
    # A failed payout newer than any that went through: the seller must fix their bank account.
    latest = next((p for p in payouts if p["status"] in ("paid", "failed")), None)
    return {
        "account": seller.id,
        "user_id": seller.user_id,
        "status": status.as_dict(),
        "balance": {"available": seller.balance_available or {}, "pending": seller.balance_pending or {}},
        "sales": sales,
        "totals": {
            "gross": sum(s["gross"] for s in sales),
            "fees": sum(s["fee"] for s in sales),
            "net": sum(s["net"] for s in sales),
            "refunded": sum(s["refunded"] for s in sales),
        },
        "payouts": payouts,
        "failed_payout": latest if latest is not None and latest["status"] == "failed" else None,
        "terms": terms_of(seller),
    }


def terms_of(seller: Seller) -> dict[str, Any]:
    return {"fee_percent": seller.fee_percent, "fee_fixed": seller.fee_fixed}


def set_terms(session: Session, seller: Seller, *, fee_percent: Decimal | None, fee_fixed: int | None) -> None:
    if fee_percent is not None and not Decimal(0) <= fee_percent < Decimal(100):
        raise BillingError("fee_percent must be at least 0 and below 100.", field="fee_percent")
    if fee_fixed is not None and fee_fixed < 0:
        raise BillingError("fee_fixed must be at least 0.", field="fee_fixed")
    sellers.set_terms(session, seller, fee_percent=fee_percent, fee_fixed=fee_fixed)
    session.commit()


def can_sell(seller: Seller | None, settings: Settings) -> SellerStatus:
    return status_of(seller, needs_card_payments=settings.connect_on_behalf_of)


def refund_sale(
    session: Session, gateway: StripeGateway, settings: Settings, *, transfer_id: str, amount: int | None
) -> dict[str, Any]:
    """Refund the buyer of a sale (all of it, or `amount`), and take back from the seller, per
    policy, the refunded share of what they received and of the platform's fee: with a
    destination charge Stripe does both in the refund (`reverse_transfer`,
    `refund_application_fee`); a multi-seller order's line is refunded from its charge and its
    separate transfer reversed by the same share."""
    transfer = session.get(ConnectTransfer, transfer_id)
    if transfer is None or transfer.charge_id is None:
        raise BillingError(f"No sale {transfer_id!r}.", field="sale")
    try:
        charge = gateway.retrieve(Kind.CHARGE, transfer.charge_id)
    except StripeNotFound:
        raise BillingError(f"The payment of sale {transfer_id!r} is gone from Stripe.", field="sale") from None
    destination = id_of(charge.get("transfer")) == transfer.id
    gross = charge["amount"] if destination else (transfer.gross or transfer.amount)
    wanted = gross if amount is None else amount
    left = charge["amount"] - charge.get("amount_refunded", 0)
    if not 0 < wanted <= min(gross, left):
        raise BillingError(f"A refund of this sale is between 1 and {min(gross, left)}.", field="amount")
    metadata = {"paywire_reason": "sale_refund", "sale": transfer.id}
    refunds_fee = destination and settings.connect_refund_refunds_fee and bool(charge.get("application_fee"))
    key = keys.sale_refund(transfer.charge_id, wanted, int(charge.get("amount_refunded", 0)))
    refund = gateway.connect.refund_sale(
        charge_id=transfer.charge_id,
        amount=wanted,
        reverse_transfer=destination and settings.connect_refund_reverses_transfer,
        refund_application_fee=refunds_fee,
        metadata=metadata,
        idempotency_key=key,
    )
    reversed_amount = None
    if not destination and settings.connect_refund_reverses_transfer:
        share = min(round(transfer.amount * wanted / gross), transfer.amount - transfer.amount_reversed)
        if share > 0:
            gateway.connect.reverse_transfer(transfer.id, amount=share, idempotency_key=f"{key}:reverse")
            reversed_amount = share
    return {"refund": refund["id"], "amount": wanted, "charge": transfer.charge_id, "reversed": reversed_amount}
