"""Writing the revenue ledger: what the mirror calls when it writes a subscription, and the
rebuild `paywire sync` runs (see the package docstring)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from paywire.db.repositories import revenue as stored
from paywire.revenue.history import Step, churn_kind, effective_at, history
from paywire.revenue.mrr import currency_of, monthly_value
from paywire.stripe.ids import id_of

MIRROR = "mirror"
HISTORY = "history"


@dataclass(frozen=True)
class Owner:
    """Whose subscription it is and what plan it is on (from the mirror's own reading)."""

    user_id: str | None
    plan: str | None
    interval: str | None


def stored_state(session: Session, subscription_id: str) -> dict[str, Any] | None:
    """The subscription as the mirror holds it, read before a write replaces it."""
    return stored.stored_subscription(session, subscription_id)


def record(
    session: Session,
    previous: dict[str, Any] | None,
    fresh: dict[str, Any],
    owner: Owner,
    *,
    now: Callable[[], int],
    source_event_id: str | None = None,
) -> int:
    """Append what a subscription's new state changes to its monthly value, in the caller's
    transaction; the number of rows added. A subscription the ledger has no row of yet gets
    its history rebuilt from its state and the invoices the mirror holds; otherwise a value
    different from the last row's is one new row (the same value again adds nothing)."""
    last = stored.last_for_subscription(session, fresh["id"])
    invoices = stored.invoices_of_subscription(session, fresh["id"]) if last is None else []
    rows = _recorded_rows(Recorded(previous, fresh, owner, now), last, invoices, source_event_id)
    stored.add(session, rows)
    return len(rows)


@dataclass(frozen=True)
class Recorded:
    """A subscription state the mirror wrote, with the state it replaced (None: none) and the
    customer's time, asked only when nothing else tells when a change took effect."""

    previous: dict[str, Any] | None
    fresh: dict[str, Any]
    owner: Owner
    now: Callable[[], int]


def record_many(session: Session, written: Sequence[Recorded], *, source_event_id: str | None = None) -> int:
    """`record` for many subscriptions (distinct ids) at once: their last rows in one query,
    the invoices of those new to the ledger in another, every new row in one insert."""
    ids = [w.fresh["id"] for w in written]
    lasts = stored.last_for_subscriptions(session, ids)
    invoices = stored.invoices_of_subscriptions(session, [i for i in ids if i not in lasts])
    rows: list[dict[str, Any]] = []
    for w in written:
        subscription_id = w.fresh["id"]
        rows += _recorded_rows(w, lasts.get(subscription_id), invoices.get(subscription_id, []), source_event_id)
    stored.add(session, rows)
    return len(rows)


def _recorded_rows(
    w: Recorded, last: Any | None, invoices: list[dict[str, Any]], source_event_id: str | None
) -> list[dict[str, Any]]:
    """The rows `record` adds, given the subscription's last row and (without one) its invoices."""
    fresh = w.fresh
    if last is None:
        steps = history(fresh, invoices, {})
        value = monthly_value(fresh)
        if (steps[-1].value if steps else 0) != value:
            # The invoices that would date the latest change are not mirrored yet.
            steps.append(Step(w.now(), value, "plan_changed", churn_kind(fresh) if value == 0 else None))
        return _rows(fresh, w.owner, steps, source=HISTORY, source_event_id=source_event_id)
    value = monthly_value(fresh)
    if value == last.mrr_after:
        return []
    at, cause = effective_at(w.previous, fresh, w.now)
    step = Step(at, value, cause, churn_kind(fresh) if value == 0 else None)
    return _rows(
        fresh, w.owner, [step], source=MIRROR, source_event_id=source_event_id, after=(last.seq, last.mrr_after)
    )


def rebuild(
    session: Session,
    subscription: dict[str, Any],
    owner: Owner,
    invoices: Iterable[dict[str, Any]],
    prices: Mapping[str, dict[str, Any]],
    *,
    dry_run: bool = False,
) -> tuple[str, str] | None:
    """Rebuild a subscription's history from Stripe's objects when the ledger holds only
    rebuilt rows (rows the mirror saw happen are kept as they are). What the ledger said and
    says now (`dry_run`: would say), or None when it already says the same."""
    rows = stored.for_subscription(session, subscription["id"])
    steps = rebuilt(subscription, rows, invoices, prices)
    if steps is None:
        return None
    if not dry_run:
        stored.forget_subscription(session, subscription["id"])
        stored.add(session, _rows(subscription, owner, steps, source=HISTORY))
    return _describe(rows_as_steps(rows)), _describe(steps)


@dataclass(frozen=True)
class Rebuilt:
    """A subscription whose history the rebuild changed (or, dry, would): as described before and after."""

    subscription_id: str
    before: str
    after: str


def rebuild_many(
    session: Session,
    subscriptions: Sequence[tuple[dict[str, Any], Owner]],
    prices: Mapping[str, dict[str, Any]],
    *,
    dry_run: bool = False,
) -> list[Rebuilt]:
    """`rebuild` for many subscriptions (distinct ids) at once, in their order: their rows and
    invoices in one query each, the histories that changed deleted in one statement and
    written again in one insert."""
    ids = [s["id"] for s, _ in subscriptions]
    held = stored.for_subscriptions(session, ids)
    invoices = stored.invoices_of_subscriptions(session, ids)
    changed: list[Rebuilt] = []
    new_rows: list[dict[str, Any]] = []
    for subscription, owner in subscriptions:
        rows = held[subscription["id"]]
        steps = rebuilt(subscription, rows, invoices[subscription["id"]], prices)
        if steps is None:
            continue
        changed.append(Rebuilt(subscription["id"], _describe(rows_as_steps(rows)), _describe(steps)))
        new_rows += _rows(subscription, owner, steps, source=HISTORY)
    if not dry_run and changed:
        stored.forget_subscriptions(session, [c.subscription_id for c in changed])
        stored.add(session, new_rows)
    return changed


def rebuilt(
    subscription: dict[str, Any],
    rows: Sequence[Any],
    invoices: Iterable[dict[str, Any]],
    prices: Mapping[str, dict[str, Any]],
) -> list[Step] | None:
    """The history a rebuild writes in place of `rows` (the subscription's, in `seq` order);
    None when rows the mirror saw happen are among them, or they already say the same. Pure."""
    if any(row.source != HISTORY for row in rows):
        return None
    steps = history(subscription, invoices, prices)
    have = [(r.occurred_at, r.mrr_after, r.cause) for r in rows]
    if have == [(s.at, s.value, s.cause) for s in steps]:
        return None
    return steps


def rows_as_steps(rows: Iterable[Any]) -> list[Step]:
    return [Step(r.occurred_at, r.mrr_after, r.cause, r.churn) for r in rows]


def _describe(steps: list[Step]) -> str:
    return "[" + ", ".join(f"{s.cause} {s.value}" for s in steps) + "]"


def _rows(
    subscription: dict[str, Any],
    owner: Owner,
    steps: list[Step],
    *,
    source: str,
    source_event_id: str | None = None,
    after: tuple[int, int] = (0, 0),
) -> list[dict[str, Any]]:
    seq, before = after
    rows = []
    for step in steps:
        seq += 1
        rows.append(
            {
                "subscription_id": subscription["id"],
                "seq": seq,
                "stripe_customer_id": id_of(subscription.get("customer")) or "",
                "user_id": owner.user_id,
                "occurred_at": step.at,
                "mrr_before": before,
                "mrr_after": step.value,
                "currency": currency_of(subscription),
                "cause": step.cause,
                "churn": step.churn,
                "plan": owner.plan,
                "interval": owner.interval,
                "quantity": _quantity(subscription),
                "source": source,
                "source_event_id": source_event_id,
            }
        )
        before = step.value
    return rows


def _quantity(subscription: dict[str, Any]) -> int | None:
    items = (subscription.get("items") or {}).get("data") or []
    return sum(int(i.get("quantity") or 0) for i in items) if items else None
