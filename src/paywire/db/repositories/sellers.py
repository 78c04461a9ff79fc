"""Queries for `sellers`: users who sell, and their connected accounts."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paywire.db.models import Seller


def find_by_user(session: Session, user_id: str) -> Seller | None:
    return session.scalar(select(Seller).where(Seller.user_id == user_id))


def find(session: Session, account_id: str) -> Seller | None:
    return session.get(Seller, account_id)


def all_sellers(session: Session) -> Sequence[Seller]:
    return session.scalars(select(Seller).order_by(Seller.created_at, Seller.id)).all()


def account_ids(session: Session) -> list[str]:
    return list(session.scalars(select(Seller.id).order_by(Seller.id)))


def add(
    session: Session, *, user_id: str, account_id: str, email: str | None, display_name: str | None, livemode: bool
) -> Seller:
    """Record a user's connected account once (a racing request finds the row already there).
    Commits its own insert."""
    found = find_by_user(session, user_id)
    if found is not None:
        return found
    seller = Seller(
        id=account_id,
        user_id=user_id,
        email=email,
        display_name=display_name,
        livemode=livemode,
        requirements=[],
        balance_available={},
        balance_pending={},
    )
    session.add(seller)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        found = find_by_user(session, user_id) or find(session, account_id)
        if found is None:
            raise
        return found
    return seller


def set_terms(session: Session, seller: Seller, *, fee_percent: Decimal | None, fee_fixed: int | None) -> None:
    """The platform's fee for this seller's sales (None, None: the catalog's)."""
    seller.fee_percent = None if fee_percent is None else str(fee_percent)
    seller.fee_fixed = fee_fixed


def write_balance(
    session: Session, account_id: str, *, available: dict[str, int], pending: dict[str, int], version: int
) -> bool:
    """The account's balance as read at `version`, unless a later read is stored."""
    result = session.execute(
        update(Seller)
        .where(Seller.id == account_id, or_(Seller.balance_version.is_(None), Seller.balance_version <= version))
        .values(balance_available=available, balance_pending=pending, balance_version=version)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))
