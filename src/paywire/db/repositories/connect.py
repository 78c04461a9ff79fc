"""Queries for the money after a sale: `connect_transfers`, `application_fees`, `payouts`,
`disputes`, and multi-seller `marketplace_orders`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paywire.db.models import ApplicationFee, ConnectTransfer, Dispute, MarketplaceOrder, Payout, Seller, utcnow


def transfers_of(session: Session, account_id: str, limit: int = 100) -> Sequence[ConnectTransfer]:
    return session.scalars(
        select(ConnectTransfer)
        .where(ConnectTransfer.account_id == account_id)
        .order_by(ConnectTransfer.stripe_created.desc(), ConnectTransfer.id)
        .limit(limit)
    ).all()


def transfer_of_charge(session: Session, charge_id: str) -> ConnectTransfer | None:
    return session.scalar(select(ConnectTransfer).where(ConnectTransfer.charge_id == charge_id).limit(1))


def fees_of_charges(session: Session, charge_ids: Iterable[str]) -> dict[str, ApplicationFee]:
    ids = list(charge_ids)
    if not ids:
        return {}
    found = session.scalars(select(ApplicationFee).where(ApplicationFee.charge_id.in_(ids)))
    return {fee.charge_id: fee for fee in found}


def fees_of(session: Session, account_id: str) -> Sequence[ApplicationFee]:
    return session.scalars(select(ApplicationFee).where(ApplicationFee.account_id == account_id)).all()


def payouts_of(session: Session, account_id: str, limit: int = 50) -> Sequence[Payout]:
    return session.scalars(
        select(Payout)
        .where(Payout.account_id == account_id)
        .order_by(Payout.stripe_created.desc(), Payout.id)
        .limit(limit)
    ).all()


def disputes_of_charges(session: Session, charge_ids: Iterable[str]) -> dict[str, Dispute]:
    ids = list(charge_ids)
    if not ids:
        return {}
    return {d.charge_id: d for d in session.scalars(select(Dispute).where(Dispute.charge_id.in_(ids)))}


def disputes_with_sellers(session: Session, limit: int = 50) -> list[tuple[Dispute, Seller | None]]:
    """The newest disputes, each with the seller its charge paid (None: the platform's own sale)."""
    rows = session.execute(
        select(Dispute, Seller)
        .outerjoin(ConnectTransfer, ConnectTransfer.charge_id == Dispute.charge_id)
        .outerjoin(Seller, Seller.id == ConnectTransfer.account_id)
        .order_by(Dispute.stripe_created.desc(), Dispute.id)
        .limit(limit)
    ).all()
    return [(dispute, seller) for dispute, seller in rows]


def find_order(session: Session, checkout_session_id: str) -> MarketplaceOrder | None:
    return session.scalar(select(MarketplaceOrder).where(MarketplaceOrder.checkout_session_id == checkout_session_id))


def open_order(
    session: Session,
    *,
    checkout_session_id: str,
    buyer_user_id: str,
    transfer_group: str,
    currency: str,
    lines: list[dict[str, Any]],
) -> MarketplaceOrder:
    """Record a started multi-seller order once per Checkout Session. Commits its own insert."""
    found = find_order(session, checkout_session_id)
    if found is not None:
        return found
    order = MarketplaceOrder(
        checkout_session_id=checkout_session_id,
        buyer_user_id=buyer_user_id,
        transfer_group=transfer_group,
        currency=currency,
        lines=lines,
        transfers={},
    )
    session.add(order)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        found = find_order(session, checkout_session_id)
        if found is None:
            raise
        return found
    return order


def record_transfers(session: Session, order: MarketplaceOrder, transfers: dict[str, str]) -> None:
    """The order's transfers made (by line), and it is paid out once every line has one."""
    made = {**(order.transfers or {}), **transfers}
    status = "paid_out" if len(made) >= len(order.lines) else "paid"
    session.execute(
        update(MarketplaceOrder)
        .where(MarketplaceOrder.id == order.id)
        .values(transfers=made, status=status, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.refresh(order)
