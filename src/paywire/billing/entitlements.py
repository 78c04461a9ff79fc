"""The one place that decides access: what may this user do right now?

The rules are pure functions over plain facts (`decide`), so they are tested without a
database; `entitlement_for` gathers the facts from the mirror and the catalog.

Rules:
- a subscription grants what its lifecycle state grants (`paywire.billing.lifecycle.access`):
  active, trialing: access; past_due: access until the period end plus the configured
  grace; cancel pending: access until the scheduled end; canceled, unpaid, incomplete,
  paused (also `pause_collection`): none.
- a paid one-time pass: its plan until its access window ends.
- nothing: plan null, access false.
When several things grant access, the highest-ranked plan wins. Limits scale with seats on
per-seat plans (`Plan.limits_for`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from paywire.billing.clock import customer_now
from paywire.billing.lifecycle import SubscriptionFacts, Verdict, scheduled_end, state_of
from paywire.billing.lifecycle import access as lifecycle_access
from paywire.billing.pending_changes import PendingChange, PendingPayment, pending_change_of, pending_payment_of
from paywire.catalog import Catalog, load_catalog
from paywire.db.models import Invoice, Order, Subscription, SubscriptionSchedule
from paywire.db.repositories import customers, orders, subscriptions
from paywire.stripe import StripeGateway

__all__ = [
    "NOTHING",
    "Entitlement",
    "PassFacts",
    "SubscriptionFacts",
    "Verdict",
    "decide",
    "entitlement_for",
    "judge_pass",
    "judge_subscription",
]


@dataclass(frozen=True)
class PassFacts:
    product: str
    grants_plan: str | None
    access_starts_at: int | None
    access_ends_at: int | None


@dataclass(frozen=True)
class Entitlement:
    plan: str | None
    status: str | None
    access: bool
    reason: str
    features: tuple[str, ...] = ()
    limits: dict[str, int] = field(default_factory=dict)
    quantity: int | None = None
    current_period_end: int | None = None
    cancel_at_period_end: bool = False
    access_until: int | None = None
    source: str | None = None  # "subscription" | "pass" | None
    state: str | None = None  # the lifecycle state (paywire.billing.lifecycle) of a subscription
    subscription_id: str | None = None
    pending_change: PendingChange | None = None
    pending_payment: PendingPayment | None = None

    def has_feature(self, feature: str) -> bool:
        return self.access and feature in self.features

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "status": self.status,
            "access": self.access,
            "reason": self.reason,
            "features": list(self.features),
            "limits": dict(self.limits),
            "quantity": self.quantity,
            "current_period_end": self.current_period_end,
            "cancel_at_period_end": self.cancel_at_period_end,
            "access_until": self.access_until,
            "source": self.source,
            "state": self.state,
            "pending_change": self.pending_change.as_dict() if self.pending_change else None,
            "pending_payment": self.pending_payment.as_dict() if self.pending_payment else None,
        }


NOTHING = Entitlement(plan=None, status=None, access=False, reason="no_subscription")


def judge_subscription(sub: SubscriptionFacts, now: int, grace_seconds: int) -> Verdict:
    """Access granted by one subscription on its own: what its lifecycle state grants."""
    return lifecycle_access(sub, now, grace_seconds)


def judge_pass(p: PassFacts, now: int) -> Verdict:
    if p.grants_plan is None or p.access_ends_at is None:
        return Verdict(False, "pass_not_fulfilled")
    if p.access_starts_at is not None and now < p.access_starts_at:
        return Verdict(False, "pass_not_started")
    if now < p.access_ends_at:
        return Verdict(True, "pass", p.access_ends_at)
    return Verdict(False, "pass_expired")


def decide(
    catalog: Catalog,
    subscriptions_: Sequence[SubscriptionFacts],
    passes: Sequence[PassFacts],
    now: int,
    grace_seconds: int,
) -> Entitlement:
    """The entitlement from plain facts. Pure: same facts, same answer."""
    candidates: list[tuple[int, int, Entitlement]] = []
    denials: list[tuple[int, Entitlement]] = []
    for sub in subscriptions_:
        verdict = judge_subscription(sub, now, grace_seconds)
        plan = catalog.plan(sub.plan) if sub.plan else None
        if verdict.access and plan is None:
            verdict = Verdict(False, "unknown_plan")
        if verdict.access and plan is not None:
            granted = Entitlement(
                plan=plan.key,
                status=sub.status,
                access=True,
                reason=verdict.reason,
                features=plan.features,
                limits=plan.limits_for(sub.quantity),
                quantity=sub.quantity,
                current_period_end=sub.current_period_end,
                cancel_at_period_end=scheduled_end(sub) is not None,
                access_until=verdict.until,
                source="subscription",
                state=state_of(sub),
                subscription_id=sub.id or None,
            )
            candidates.append((plan.rank, sub.created, granted))
        else:
            denied = Entitlement(
                plan=None,
                status=sub.status,
                access=False,
                reason=verdict.reason,
                current_period_end=sub.current_period_end,
                cancel_at_period_end=sub.cancel_at_period_end,
                source="subscription",
                state=state_of(sub),
                subscription_id=sub.id or None,
            )
            denials.append((sub.created, denied))
    for p in passes:
        verdict = judge_pass(p, now)
        plan = catalog.plan(p.grants_plan) if p.grants_plan else None
        if verdict.access and plan is not None:
            granted = Entitlement(
                plan=plan.key,
                status="active",
                access=True,
                reason="pass",
                features=plan.features,
                limits=plan.limits_for(1),
                quantity=1,
                current_period_end=p.access_ends_at,
                cancel_at_period_end=True,  # a pass does not renew
                access_until=p.access_ends_at,
                source="pass",
            )
            candidates.append((plan.rank, p.access_ends_at or 0, granted))
        else:
            status = "expired" if verdict.reason == "pass_expired" else "pending"
            denied = Entitlement(
                plan=None,
                status=status,
                access=False,
                reason=verdict.reason,
                current_period_end=p.access_ends_at,
                source="pass",
            )
            denials.append((p.access_ends_at or 0, denied))
    if candidates:
        return max(candidates, key=lambda c: (c[0], c[1]))[2]
    if denials:
        return max(denials, key=lambda d: d[0])[1]
    return NOTHING


def subscription_facts(rows: Iterable[Subscription]) -> list[SubscriptionFacts]:
    return [
        SubscriptionFacts(
            status=row.status,
            plan=row.plan,
            quantity=row.quantity,
            current_period_end=row.current_period_end,
            cancel_at_period_end=row.cancel_at_period_end,
            cancel_at=row.cancel_at,
            created=row.stripe_created,
            id=row.id,
            collection_paused=bool(row.pause_collection),
        )
        for row in rows
    ]


def pass_facts(rows: Iterable[Order]) -> list[PassFacts]:
    return [
        PassFacts(
            product=row.product,
            grants_plan=row.grants_plan,
            access_starts_at=row.access_starts_at,
            access_ends_at=row.access_ends_at,
        )
        for row in rows
    ]


@lru_cache(maxsize=1)
def _configured() -> tuple[Catalog, int]:
    from paywire.config import load_settings

    settings = load_settings()
    return load_catalog(settings.catalog_path), settings.grace_seconds


def entitlement_for(
    session: Session,
    user_id: str,
    now: int | None = None,
    *,
    catalog: Catalog | None = None,
    grace_seconds: int | None = None,
    gateway: StripeGateway | None = None,
) -> Entitlement:
    """What `user_id` may do at `now` (default: the customer's time, i.e. their test
    clock's in test mode). The catalog and grace come from the environment's settings
    unless given; `gateway` lets a missing test clock be read from Stripe."""
    if catalog is None or grace_seconds is None:
        default_catalog, default_grace = _configured()
        catalog = catalog or default_catalog
        grace_seconds = default_grace if grace_seconds is None else grace_seconds
    if now is None:
        now = customer_now(session, customers.find_by_user(session, user_id), gateway)
    rows = subscriptions.for_user(session, user_id)
    passes = pass_facts(orders.paid_for_user(session, user_id))
    decided = decide(catalog, subscription_facts(rows), passes, now, grace_seconds)
    return with_pending(session, catalog, decided, rows, now)


def with_pending(
    session: Session, catalog: Catalog, decided: Entitlement, rows: Sequence[Subscription], now: int
) -> Entitlement:
    """The entitlement with what waits to happen to its subscription (a downgrade at the
    period end, an upgrade waiting for payment), read from the mirror."""
    row = next((r for r in rows if r.id == decided.subscription_id), None)
    if row is None or decided.source != "subscription":
        return decided
    schedule = session.get(SubscriptionSchedule, row.schedule_id) if row.schedule_id else None
    invoice = session.get(Invoice, row.latest_invoice_id) if row.latest_invoice_id else None
    return replace(
        decided,
        pending_change=pending_change_of(catalog, row, schedule),
        pending_payment=pending_payment_of(row, invoice, now),
    )
