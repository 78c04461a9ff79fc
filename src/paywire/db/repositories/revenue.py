"""Queries for `revenue_changes`: the revenue ledger (written only by `paywire.revenue`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from paywire.db.membership import among
from paywire.db.models import Invoice, RevenueChange, Subscription
from paywire.db.upsert import insert_page


def last_for_subscription(session: Session, subscription_id: str) -> RevenueChange | None:
    return session.scalar(
        select(RevenueChange)
        .where(RevenueChange.subscription_id == subscription_id)
        .order_by(RevenueChange.seq.desc())
        .limit(1)
    )


def for_subscription(session: Session, subscription_id: str) -> Sequence[RevenueChange]:
    return session.scalars(
        select(RevenueChange).where(RevenueChange.subscription_id == subscription_id).order_by(RevenueChange.seq)
    ).all()


def last_for_subscriptions(session: Session, subscription_ids: Sequence[str]) -> dict[str, RevenueChange]:
    """The last row of each of these subscriptions that has one, in one query."""
    if not subscription_ids:
        return {}
    last = (
        select(RevenueChange.subscription_id, func.max(RevenueChange.seq).label("seq"))
        .where(among(session, RevenueChange.subscription_id, subscription_ids))
        .group_by(RevenueChange.subscription_id)
        .subquery()
    )
    query = select(RevenueChange).join(
        last, (RevenueChange.subscription_id == last.c.subscription_id) & (RevenueChange.seq == last.c.seq)
    )
    return {row.subscription_id: row for row in session.scalars(query)}


def for_subscriptions(session: Session, subscription_ids: Sequence[str]) -> dict[str, list[RevenueChange]]:
    """Every row of these subscriptions, each one's in `seq` order, in one query."""
    found: dict[str, list[RevenueChange]] = {i: [] for i in subscription_ids}
    if not subscription_ids:
        return found
    query = (
        select(RevenueChange)
        .where(among(session, RevenueChange.subscription_id, subscription_ids))
        .order_by(RevenueChange.subscription_id, RevenueChange.seq)
    )
    for row in session.scalars(query):
        found[row.subscription_id].append(row)
    return found


def until(session: Session, until_at: int | None = None) -> Sequence[RevenueChange]:
    """Every change up to `until_at` (inclusive, Stripe time), in the order they happened."""
    query = select(RevenueChange)
    if until_at is not None:
        query = query.where(RevenueChange.occurred_at <= until_at)
    return session.scalars(
        query.order_by(RevenueChange.occurred_at, RevenueChange.subscription_id, RevenueChange.seq)
    ).all()


def add(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert rows, all in one statement (no ORM objects: a sync adds a page's worth at once)."""
    insert_page(session, RevenueChange, rows)


def forget_subscription(session: Session, subscription_id: str) -> None:
    session.execute(delete(RevenueChange).where(RevenueChange.subscription_id == subscription_id))


def forget_subscriptions(session: Session, subscription_ids: Sequence[str]) -> None:
    if subscription_ids:
        session.execute(delete(RevenueChange).where(among(session, RevenueChange.subscription_id, subscription_ids)))


def stored_subscription(session: Session, subscription_id: str) -> dict[str, Any] | None:
    """The subscription's state as the mirror holds it now (before a write replaces it)."""
    found = session.scalar(select(Subscription.stripe_object).where(Subscription.id == subscription_id))
    return dict(found) if isinstance(found, dict) else None


def invoices_of_subscription(session: Session, subscription_id: str) -> list[dict[str, Any]]:
    """The mirrored invoices of a subscription, as Stripe objects."""
    found = session.scalars(select(Invoice.stripe_object).where(Invoice.subscription_id == subscription_id)).all()
    return [dict(obj) for obj in found if isinstance(obj, dict)]


def subscription_ids(session: Session) -> list[str]:
    return list(session.scalars(select(Subscription.id).order_by(Subscription.id)))


def stored_subscriptions(session: Session, subscription_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """`stored_subscription` of each of these that the mirror holds, in one query."""
    if not subscription_ids:
        return {}
    query = select(Subscription.id, Subscription.stripe_object).where(among(session, Subscription.id, subscription_ids))
    return {i: dict(obj) for i, obj in session.execute(query) if isinstance(obj, dict)}


def invoices_of_subscriptions(session: Session, subscription_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """`invoices_of_subscription` of each of these, in one query."""
    found: dict[str, list[dict[str, Any]]] = {i: [] for i in subscription_ids}
    if not subscription_ids:
        return found
    query = select(Invoice.subscription_id, Invoice.stripe_object).where(
        among(session, Invoice.subscription_id, subscription_ids)
    )
    for subscription_id, obj in session.execute(query):
        if isinstance(obj, dict) and subscription_id in found:
            found[subscription_id].append(dict(obj))
    return found


def subscription_statuses_after(session: Session, after: str, limit: int) -> list[tuple[str, str]]:
    """The next `limit` mirrored subscriptions by id after `after`, as (id, status), without
    their Stripe objects: keyset pages, so a walk over all of them keeps one page in memory."""
    query = select(Subscription.id, Subscription.status).where(Subscription.id > after)
    return [(i, status) for i, status in session.execute(query.order_by(Subscription.id).limit(limit))]


def subscriptions_by_id(
    session: Session, subscription_ids: Sequence[str]
) -> list[tuple[str, str | None, str | None, str | None, Any]]:
    """These mirrored subscriptions (those the mirror holds), by id, as (id, user_id, plan,
    interval, stripe_object)."""
    if not subscription_ids:
        return []
    query = (
        select(
            Subscription.id, Subscription.user_id, Subscription.plan, Subscription.interval, Subscription.stripe_object
        )
        .where(among(session, Subscription.id, subscription_ids))
        .order_by(Subscription.id)
    )
    return [tuple(row) for row in session.execute(query)]
