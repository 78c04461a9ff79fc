"""The one place that decides access: what may this user do right now?

The rules are pure functions over plain facts (`decide`), so they are tested without a
database; `entitlement_for` decides from a snapshot of the user's facts in the mirror
(`paywire.billing.entitlement_snapshots`), which the process's cache keeps until the user's
entitlement version moves forward (`paywire.billing.entitlement_cache`: never more than
`PAYWIRE_ENTITLEMENT_MAX_STALENESS` behind the mirror; `fresh=True` reads the mirror now).

Rules:
- a subscription grants what its lifecycle state grants (`paywire.billing.lifecycle.access`):
  active, trialing: access; past_due: access until the period end plus the configured
  grace; cancel pending: access until the scheduled end; canceled, unpaid, incomplete,
  paused (also `pause_collection`): none.
- a paid one-time pass: its plan until its access window ends (passes of one plan bought
  while another runs follow it: access lasts until the last one ends).
- nothing: plan null, access false.
When several things grant access, the highest-ranked plan wins. Limits scale with seats on
per-seat plans (`Plan.limits_for`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.orm import Session

from paywire.billing.clock import customer_now
from paywire.billing.entitlement_cache import default_rules, snapshot_of
from paywire.billing.entitlement_snapshots import EntitlementSnapshot, PassFacts, pass_facts, subscription_facts
from paywire.billing.lifecycle import SubscriptionFacts, Verdict, scheduled_end, state_of
from paywire.billing.lifecycle import access as lifecycle_access
from paywire.billing.passes import runs_until
from paywire.billing.pending_changes import PendingChange, PendingPayment, pending_phase
from paywire.catalog import Catalog
from paywire.config import Settings
from paywire.db.repositories import customers
from paywire.stripe import StripeGateway

__all__ = [
    "NOTHING",
    "Entitlement",
    "EntitlementSnapshot",
    "PassFacts",
    "SubscriptionFacts",
    "Verdict",
    "decide",
    "entitlement_at",
    "entitlement_for",
    "judge_pass",
    "judge_subscription",
    "pass_facts",
    "subscription_facts",
]


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
            # Passes of one plan bought back to back: access runs until the last one ends.
            same_plan = ((q.access_starts_at, q.access_ends_at) for q in passes if q.grants_plan == p.grants_plan)
            until = runs_until(same_plan, now) or p.access_ends_at
            granted = Entitlement(
                plan=plan.key,
                status="active",
                access=True,
                reason="pass",
                features=plan.features,
                limits=plan.limits_for(1),
                quantity=1,
                current_period_end=until,
                cancel_at_period_end=True,  # a pass does not renew
                access_until=until,
                source="pass",
            )
            candidates.append((plan.rank, until or 0, granted))
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


def entitlement_for(
    session: Session,
    user_id: str,
    now: int | None = None,
    *,
    catalog: Catalog | None = None,
    grace_seconds: int | None = None,
    gateway: StripeGateway | None = None,
    fresh: bool = False,
    settings: Settings | None = None,
) -> Entitlement:
    """What `user_id` may do at `now` (default: the customer's time, i.e. their test
    clock's in test mode). The catalog and grace come from the environment's settings
    unless given; `gateway` lets a missing test clock be read from Stripe.

    Answered from this process's cache of the session's database: never more than
    `PAYWIRE_ENTITLEMENT_MAX_STALENESS` behind the mirror, and never behind this process's
    own commits. `fresh=True` reads the mirror through `session` now, as does a session whose
    open transaction changed an entitlement. `settings` (default: the environment's) sizes
    and bounds the cache when this call is the first to use it."""
    if catalog is None or grace_seconds is None:
        default_catalog, default_grace = default_rules(session)
        catalog = catalog or default_catalog
        grace_seconds = default_grace if grace_seconds is None else grace_seconds
    snapshot = snapshot_of(session, user_id, fresh=fresh, settings=settings)
    if now is None:
        if snapshot.clock_missing and gateway is not None:
            now = customer_now(session, customers.find_by_user(session, user_id), gateway)
        else:
            now = snapshot.now()
    return entitlement_at(snapshot, catalog, grace_seconds, now)


def entitlement_at(snapshot: EntitlementSnapshot, catalog: Catalog, grace_seconds: int, now: int) -> Entitlement:
    """The entitlement a snapshot gives at `now`, with what waits to happen to its
    subscription (a downgrade at the period end, an upgrade waiting for its payment). Pure."""
    decided = decide(catalog, snapshot.subscriptions, snapshot.passes, now, grace_seconds)
    waiting = snapshot.waiting.get(decided.subscription_id or "") if decided.source == "subscription" else None
    if waiting is None:
        return decided
    change = None
    if waiting.phases is not None:
        phases = waiting.phases
        change = pending_phase(
            catalog, phases.schedule, phases.items_now, phases.period_end, schedule_id=phases.schedule_id
        )
    payment = waiting.payment
    if payment is not None and payment.expires_at is not None and payment.expires_at <= now:
        payment = None  # lapsed, as `pending_payment_of` says
    return replace(decided, pending_change=change, pending_payment=payment)
