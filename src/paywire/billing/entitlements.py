"""The one place that decides access: what may this user do right now?

The rules are pure functions over plain facts (`decide`), so they are tested without a
database; `entitlement_for` gathers the facts from the mirror and the catalog.

Rules:
- active, trialing: access.
- past_due: access until the period end plus the configured grace, then none.
- cancel at period end (or a `cancel_at`): access until then, then none.
- canceled, unpaid, incomplete, incomplete_expired, paused: none.
- a paid one-time pass: its plan until its access window ends.
- nothing: plan null, access false.
When several things grant access, the highest-ranked plan wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from paywire.billing.clock import customer_now
from paywire.catalog import Catalog, load_catalog
from paywire.db.models import Order, Subscription
from paywire.db.repositories import customers, orders, subscriptions
from paywire.stripe import StripeGateway

NO_ACCESS_STATUSES = ("canceled", "unpaid", "incomplete", "incomplete_expired", "paused")


@dataclass(frozen=True)
class SubscriptionFacts:
    status: str
    plan: str | None
    quantity: int = 1
    current_period_end: int | None = None
    cancel_at_period_end: bool = False
    cancel_at: int | None = None
    created: int = 0
    id: str = ""


@dataclass(frozen=True)
class PassFacts:
    product: str
    grants_plan: str | None
    access_starts_at: int | None
    access_ends_at: int | None


@dataclass(frozen=True)
class Verdict:
    """What one subscription or pass grants on its own."""

    access: bool
    reason: str
    until: int | None = None  # when access ends, if it is known to end


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
        }


NOTHING = Entitlement(plan=None, status=None, access=False, reason="no_subscription")


def judge_subscription(sub: SubscriptionFacts, now: int, grace_seconds: int) -> Verdict:
    """Access granted by one subscription on its own."""
    if sub.status in NO_ACCESS_STATUSES:
        return Verdict(False, sub.status)
    ends = _scheduled_end(sub)
    if sub.status in ("active", "trialing"):
        if ends is not None:
            # Stripe ends it at that moment; a late mirror must not extend access.
            if now < ends:
                return Verdict(True, "canceling_at_period_end", ends)
            return Verdict(False, "canceled_at_period_end")
        return Verdict(True, sub.status)
    if sub.status == "past_due":
        if sub.current_period_end is None:
            return Verdict(False, "past_due")
        until = sub.current_period_end + grace_seconds
        if ends is not None:
            until = min(until, ends)
        if now < until:
            return Verdict(True, "past_due_grace", until)
        return Verdict(False, "past_due_grace_ended")
    return Verdict(False, f"unknown_status:{sub.status}")


def _scheduled_end(sub: SubscriptionFacts) -> int | None:
    ends = []
    if sub.cancel_at_period_end and sub.current_period_end is not None:
        ends.append(sub.current_period_end)
    if sub.cancel_at is not None:
        ends.append(sub.cancel_at)
    return min(ends) if ends else None


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
                limits=dict(plan.limits),
                quantity=sub.quantity,
                current_period_end=sub.current_period_end,
                cancel_at_period_end=_scheduled_end(sub) is not None,
                access_until=verdict.until,
                source="subscription",
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
                limits=dict(plan.limits),
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
    subs = subscription_facts(subscriptions.for_user(session, user_id))
    passes = pass_facts(orders.paid_for_user(session, user_id))
    return decide(catalog, subs, passes, now, grace_seconds)
