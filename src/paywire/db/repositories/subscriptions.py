"""Queries for `subscriptions` and `subscription_items`: the mirror of Stripe's subscriptions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.util import identity_key

from paywire.db.models import Subscription, SubscriptionItem, utcnow
from paywire.db.upsert import upsert_statement

# Statuses under which a subscription still exists for the customer: a new checkout
# would create a second one, so the user is sent to plan change or the portal instead.
LIVE_STATUSES = ("active", "trialing", "past_due", "unpaid", "paused")


def find(session: Session, subscription_id: str) -> Subscription | None:
    return session.get(Subscription, subscription_id)


def for_user(session: Session, user_id: str) -> Sequence[Subscription]:
    """All of a user's mirrored subscriptions, newest first."""
    return session.scalars(
        select(Subscription)
        .where(Subscription.user_id == user_id)
        .options(selectinload(Subscription.items))
        .order_by(Subscription.stripe_created.desc(), Subscription.id)
    ).all()


def live_for_user(session: Session, user_id: str) -> Sequence[Subscription]:
    return session.scalars(
        select(Subscription).where(Subscription.user_id == user_id, Subscription.status.in_(LIVE_STATUSES))
    ).all()


def had_trial(session: Session, user_id: str) -> bool:
    """Whether any mirrored subscription of the user ever had a trial."""
    found = session.scalar(
        select(Subscription.id).where(Subscription.user_id == user_id, Subscription.trial_start.is_not(None)).limit(1)
    )
    return found is not None


def _id(value: Any) -> str | None:
    """An expandable field: a bare id, or the expanded object."""
    if isinstance(value, dict):
        return value.get("id")
    return value if isinstance(value, str) else None


def item_rows(stripe_subscription: dict[str, Any]) -> list[dict[str, Any]]:
    """The item columns, from the API shape (periods live on the items)."""
    rows = []
    for item in (stripe_subscription.get("items") or {}).get("data") or []:
        price = item.get("price") or {}
        rows.append(
            {
                "id": item["id"],
                "price_id": price.get("id"),
                "lookup_key": price.get("lookup_key"),
                "product_id": _id(price.get("product")),
                "quantity": item.get("quantity"),
                "current_period_start": item.get("current_period_start"),
                "current_period_end": item.get("current_period_end"),
            }
        )
    return rows


def subscription_row(stripe_subscription: dict[str, Any]) -> dict[str, Any]:
    """The subscription columns, from the API shape. The period is the earliest item's:
    items can renew on their own anchors under flexible billing."""
    items = item_rows(stripe_subscription)
    starts = [i["current_period_start"] for i in items if i["current_period_start"] is not None]
    ends = [i["current_period_end"] for i in items if i["current_period_end"] is not None]
    quantity = sum(i["quantity"] or 0 for i in items) if items else 1
    sub = stripe_subscription
    return {
        "id": sub["id"],
        "stripe_customer_id": _id(sub.get("customer")),
        "status": sub["status"],
        "quantity": quantity or 1,
        "current_period_start": min(starts) if starts else None,
        "current_period_end": min(ends) if ends else None,
        "cancel_at_period_end": bool(sub.get("cancel_at_period_end")),
        "cancel_at": sub.get("cancel_at"),
        "canceled_at": sub.get("canceled_at"),
        "ended_at": sub.get("ended_at"),
        "trial_start": sub.get("trial_start"),
        "trial_end": sub.get("trial_end"),
        "pause_collection": sub.get("pause_collection"),
        "latest_invoice_id": _id(sub.get("latest_invoice")),
        "schedule_id": _id(sub.get("schedule")),
        "stripe_object": sub,
        "stripe_created": sub.get("created") or 0,
    }


def lock_for_update(session: Session, subscription_id: str) -> tuple[bool, int | None]:
    """Write-lock the row (if any) for the rest of the transaction and return
    (exists, stored `stripe_version`). A no-op UPDATE takes the lock on both backends: a row
    lock on PostgreSQL, the database write lock on SQLite, so the version compared is the
    one committed last and nobody writes in between."""
    if session.get_bind().dialect.name == "postgresql":
        # One round trip: the row lock and the version together.
        locked = session.execute(
            select(Subscription.stripe_version).where(Subscription.id == subscription_id).with_for_update()
        ).first()
        return (False, None) if locked is None else (True, locked[0])
    session.execute(
        update(Subscription)
        .where(Subscription.id == subscription_id)
        .values(stripe_version=Subscription.stripe_version)
        .execution_options(synchronize_session=False)
    )
    found = session.execute(select(Subscription.stripe_version).where(Subscription.id == subscription_id)).first()
    if found is None:
        return False, None
    return True, found[0]


def stored_version(session: Session, subscription_id: str) -> int | None:
    """The mirrored row's `stripe_version`, without locking (None if absent or unversioned)."""
    return session.scalar(select(Subscription.stripe_version).where(Subscription.id == subscription_id))


def save_from_stripe(
    session: Session,
    stripe_subscription: dict[str, Any],
    *,
    user_id: str | None,
    plan: str | None,
    interval: str | None,
    stripe_version: int | None = None,
) -> Subscription:
    """Insert or overwrite the mirror of one subscription and its items from a Stripe
    subscription (a plain dict, e.g. `to_dict()` of a fresh retrieve)."""
    values = subscription_row(stripe_subscription)
    values.update(user_id=user_id, plan=plan, interval=interval, synced_at=utcnow())
    if stripe_version is not None:
        values["stripe_version"] = stripe_version
    row = session.get(Subscription, values["id"], options=[selectinload(Subscription.items)])
    if row is None:
        row = Subscription(**values)
        session.add(row)
    else:
        for key, value in values.items():
            setattr(row, key, value)
    existing = {item.id: item for item in row.items}
    wanted = item_rows(stripe_subscription)
    row.items = [_item(existing.get(data["id"]), data) for data in wanted]
    session.flush()
    return row


def _item(item: SubscriptionItem | None, data: dict[str, Any]) -> SubscriptionItem:
    if item is None:
        return SubscriptionItem(**data)
    for key, value in data.items():
        setattr(item, key, value)
    return item


def save_versioned(
    session: Session,
    stripe_subscription: dict[str, Any],
    *,
    user_id: str | None,
    plan: str | None,
    interval: str | None,
    stripe_version: int,
) -> bool:
    """Write a subscription read at `stripe_version` under the version rule, in one statement
    (INSERT … ON CONFLICT DO UPDATE … WHERE the stored version is not newer): inserted, or an
    older read overwritten (then its items follow), or nothing if a newer read is stored.
    The conflicting row is locked by the statement, so a racing writer of the same
    subscription waits for this transaction. True if written. The events worker's write
    path: SQLAlchemy Core, no ORM objects (flush the session first if it holds changes)."""
    session.flush()  # pending ORM changes first, so they cannot overwrite this write later
    values = subscription_row(stripe_subscription)
    values.update(user_id=user_id, plan=plan, interval=interval, synced_at=utcnow(), stripe_version=stripe_version)
    table = cast(Table, Subscription.__table__)
    if session.execute(upsert_statement(session, table, tuple(values), versioned=True), values).first() is None:
        return False
    items = [{**row, "subscription_id": values["id"]} for row in item_rows(stripe_subscription)]
    items_table = cast(Table, SubscriptionItem.__table__)
    session.execute(
        delete(items_table).where(
            items_table.c.subscription_id == values["id"], items_table.c.id.not_in([i["id"] for i in items])
        )
    )
    if items:
        session.execute(upsert_statement(session, items_table, tuple(items[0]), versioned=False), items)
    _forget_loaded(session, values["id"])
    return True


def _forget_loaded(session: Session, subscription_id: str) -> None:
    """ORM objects of this subscription the session already holds are out of date after a
    Core write: expire them, so the next access reads the row again."""
    loaded = session.identity_map.get(identity_key(Subscription, subscription_id))
    if loaded is not None:
        session.expire(loaded)
    for item in [o for o in session.identity_map.values() if isinstance(o, SubscriptionItem)]:
        if "subscription_id" not in item.__dict__ or item.subscription_id == subscription_id:
            session.expire(item)
