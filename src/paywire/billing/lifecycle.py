"""A subscription's lifecycle: its states, what moves it between them, what each grants.

The one place that names the states. Entitlements read `access` from here; every operation
on a subscription (`plan_changes`, `cancellation`, `pausing`, `promotions`) asks `require`
before it calls Stripe, so a request the state does not allow changes nothing.

States (Stripe's status plus what paywire adds on top):
- trialing, active: paid for (or on trial); access.
- cancel_pending: active or trialing with a scheduled end (`cancel_at_period_end`,
  `cancel_at`): access until then, then canceled. `reactivate` undoes it.
- past_due: a renewal failed and is being retried: access until the period end + grace.
- paused: Stripe's `paused` status, or `pause_collection` (how a subscription with a schedule
  pauses): no access, data kept. `unpause` resumes it.
- unpaid: retries exhausted and kept (Stripe setting): no access.
- canceled: ended; terminal. A new subscription starts at Checkout.
- incomplete: the first payment never succeeded (incomplete, incomplete_expired): no access.

Pure: plain facts in, answers out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from paywire.billing.errors import SubscriptionConflict


class LifecycleState(StrEnum):
    TRIALING = "trialing"
    ACTIVE = "active"
    CANCEL_PENDING = "cancel_pending"
    PAST_DUE = "past_due"
    PAUSED = "paused"
    UNPAID = "unpaid"
    CANCELED = "canceled"
    INCOMPLETE = "incomplete"
    UNKNOWN = "unknown"  # a Stripe status this code does not know yet: grants nothing


class Operation(StrEnum):
    """What a user (or an admin) asks for."""

    CHANGE_PLAN = "change_plan"
    CANCEL_PENDING_CHANGE = "cancel_pending_change"
    CANCEL = "cancel"  # at the period end
    REACTIVATE = "reactivate"
    PAUSE = "pause"
    UNPAUSE = "unpause"
    APPLY_PROMOTION_CODE = "apply_promotion_code"
    CANCEL_NOW = "cancel_now"  # admin only


class StripeTrigger(StrEnum):
    """What Stripe does on its own, as time passes."""

    TRIAL_ENDS = "trial_ends"
    RENEWAL_PAID = "renewal_paid"
    PAYMENT_FAILS = "payment_fails"
    PAYMENT_SUCCEEDS = "payment_succeeds"
    RETRIES_EXHAUSTED = "retries_exhausted"
    PERIOD_ENDS = "period_ends"


S = LifecycleState
Trigger = Operation | StripeTrigger

# Every allowed move and where it can lead. A (state, operation) missing here is refused.
# Several targets where Stripe's outcome decides (a payment at unpause may fail).
TRANSITIONS: Mapping[tuple[LifecycleState, Trigger], frozenset[LifecycleState]] = {
    (S.TRIALING, Operation.CHANGE_PLAN): frozenset({S.TRIALING}),
    (S.ACTIVE, Operation.CHANGE_PLAN): frozenset({S.ACTIVE}),
    **{
        (state, Operation.CANCEL_PENDING_CHANGE): frozenset({state})
        for state in (S.TRIALING, S.ACTIVE, S.PAST_DUE, S.PAUSED)
    },
    (S.TRIALING, Operation.CANCEL): frozenset({S.CANCEL_PENDING}),
    (S.ACTIVE, Operation.CANCEL): frozenset({S.CANCEL_PENDING}),
    (S.CANCEL_PENDING, Operation.REACTIVATE): frozenset({S.ACTIVE, S.TRIALING}),
    (S.TRIALING, Operation.PAUSE): frozenset({S.PAUSED}),
    (S.ACTIVE, Operation.PAUSE): frozenset({S.PAUSED}),
    (S.PAUSED, Operation.UNPAUSE): frozenset({S.ACTIVE, S.TRIALING, S.PAST_DUE}),
    **{
        (state, Operation.APPLY_PROMOTION_CODE): frozenset({state})
        for state in (S.TRIALING, S.ACTIVE, S.CANCEL_PENDING, S.PAST_DUE)
    },
    **{
        (state, Operation.CANCEL_NOW): frozenset({S.CANCELED})
        for state in (S.TRIALING, S.ACTIVE, S.CANCEL_PENDING, S.PAST_DUE, S.PAUSED, S.UNPAID, S.INCOMPLETE)
    },
    (S.TRIALING, StripeTrigger.TRIAL_ENDS): frozenset({S.ACTIVE, S.PAST_DUE, S.PAUSED, S.CANCELED}),
    (S.ACTIVE, StripeTrigger.RENEWAL_PAID): frozenset({S.ACTIVE}),
    (S.ACTIVE, StripeTrigger.PAYMENT_FAILS): frozenset({S.PAST_DUE}),
    (S.TRIALING, StripeTrigger.PAYMENT_FAILS): frozenset({S.PAST_DUE}),
    (S.PAST_DUE, StripeTrigger.PAYMENT_SUCCEEDS): frozenset({S.ACTIVE}),
    (S.UNPAID, StripeTrigger.PAYMENT_SUCCEEDS): frozenset({S.ACTIVE}),
    (S.PAST_DUE, StripeTrigger.RETRIES_EXHAUSTED): frozenset({S.CANCELED, S.UNPAID, S.PAST_DUE}),
    (S.CANCEL_PENDING, StripeTrigger.PERIOD_ENDS): frozenset({S.CANCELED}),
    (S.INCOMPLETE, StripeTrigger.PAYMENT_SUCCEEDS): frozenset({S.ACTIVE, S.TRIALING}),
}

# States whose subscription still exists in Stripe and may come back to access.
ACCESS_STATES = frozenset({S.TRIALING, S.ACTIVE, S.CANCEL_PENDING, S.PAST_DUE})

REFUSALS: Mapping[LifecycleState, str] = {
    S.CANCELED: "The subscription has ended; start a new one at checkout.",
    S.INCOMPLETE: "The subscription's first payment never went through; start again at checkout.",
    S.PAUSED: "The subscription is paused; unpause it first.",
    S.PAST_DUE: "The last payment failed; update the payment method (billing portal) first.",
    S.UNPAID: "The subscription is unpaid; pay the open invoice (billing portal) first.",
    S.CANCEL_PENDING: "The subscription is set to cancel at the period end; reactivate it first.",
}


@dataclass(frozen=True)
class SubscriptionFacts:
    """What the lifecycle needs to know about one subscription (from the mirror or Stripe)."""

    status: str
    plan: str | None
    quantity: int = 1
    current_period_end: int | None = None
    cancel_at_period_end: bool = False
    cancel_at: int | None = None
    created: int = 0
    id: str = ""
    collection_paused: bool = False  # `pause_collection` is set


@dataclass(frozen=True)
class Verdict:
    """What one subscription or pass grants on its own."""

    access: bool
    reason: str
    until: int | None = None  # when access ends, if it is known to end


class OperationRefused(SubscriptionConflict):
    """The subscription's state does not allow the operation; nothing was changed."""

    def __init__(self, state: LifecycleState, operation: Operation, message: str) -> None:
        super().__init__(message, code="not_allowed_in_state", state=state.value, operation=operation.value)
        self.state = state
        self.operation = operation


def scheduled_end(facts: SubscriptionFacts) -> int | None:
    """When Stripe will end the subscription on its own, if it is set to."""
    ends = []
    if facts.cancel_at_period_end and facts.current_period_end is not None:
        ends.append(facts.current_period_end)
    if facts.cancel_at is not None:
        ends.append(facts.cancel_at)
    return min(ends) if ends else None


def state_of(facts: SubscriptionFacts) -> LifecycleState:
    status = facts.status
    if status == "canceled":
        return S.CANCELED
    if status in ("incomplete", "incomplete_expired"):
        return S.INCOMPLETE
    if status == "paused" or (facts.collection_paused and status in ("active", "trialing", "past_due")):
        return S.PAUSED
    if status == "unpaid":
        return S.UNPAID
    if status == "past_due":
        return S.PAST_DUE
    if status in ("active", "trialing"):
        if scheduled_end(facts) is not None:
            return S.CANCEL_PENDING
        return S.TRIALING if status == "trialing" else S.ACTIVE
    return S.UNKNOWN


def allowed(state: LifecycleState, operation: Operation) -> bool:
    return (state, operation) in TRANSITIONS


def require(facts: SubscriptionFacts, operation: Operation) -> LifecycleState:
    """The state, if it allows `operation`; else `OperationRefused` with a message for the user."""
    state = state_of(facts)
    if allowed(state, operation):
        return state
    raise OperationRefused(state, operation, refusal(state, operation))


def refusal(state: LifecycleState, operation: Operation) -> str:
    """Why a subscription in `state` cannot do `operation`, in the user's words."""
    if operation is Operation.REACTIVATE and state in (S.ACTIVE, S.TRIALING):
        return "The subscription is not set to cancel; there is nothing to reactivate."
    if operation is Operation.UNPAUSE and state in (S.ACTIVE, S.TRIALING):
        return "The subscription is not paused."
    if operation is Operation.CANCEL and state is S.CANCEL_PENDING:
        return "The subscription is already set to cancel at the period end."
    if operation is Operation.PAUSE and state is S.PAUSED:
        return "The subscription is already paused."
    return REFUSALS.get(state, f"A subscription in state {state} cannot do that.")


def reachable(state: LifecycleState, triggers: frozenset[Trigger] | None = None) -> frozenset[LifecycleState]:
    """Every state reachable from `state` through `triggers` (default: Stripe's own), itself included."""
    wanted = triggers if triggers is not None else frozenset(StripeTrigger)
    seen = {state}
    frontier = [state]
    while frontier:
        current = frontier.pop()
        for (source, trigger), targets in TRANSITIONS.items():
            if source is current and trigger in wanted:
                for target in targets - seen:
                    seen.add(target)
                    frontier.append(target)
    return frozenset(seen)


def access(facts: SubscriptionFacts, now: int, grace_seconds: int) -> Verdict:
    """What the subscription grants at `now`, by its state."""
    state = state_of(facts)
    ends = scheduled_end(facts)
    if state in (S.ACTIVE, S.TRIALING):
        return Verdict(True, facts.status)
    if state is S.CANCEL_PENDING:
        assert ends is not None
        # Stripe ends it at that moment; a late mirror must not extend access.
        if now < ends:
            return Verdict(True, "canceling_at_period_end", ends)
        return Verdict(False, "canceled_at_period_end")
    if state is S.PAST_DUE:
        if facts.current_period_end is None:
            return Verdict(False, "past_due")
        until = facts.current_period_end + grace_seconds
        if ends is not None:
            until = min(until, ends)
        if now < until:
            return Verdict(True, "past_due_grace", until)
        return Verdict(False, "past_due_grace_ended")
    if state is S.PAUSED:
        return Verdict(False, "paused")
    if state is S.UNKNOWN:
        return Verdict(False, f"unknown_status:{facts.status}")
    return Verdict(False, facts.status)


def facts_from_stripe(subscription: Mapping[str, Any], plan: str | None = None) -> SubscriptionFacts:
    """Facts from a Stripe subscription (periods live on the items, as on the pinned API)."""
    items = (subscription.get("items") or {}).get("data") or []
    ends = [i["current_period_end"] for i in items if i.get("current_period_end") is not None]
    quantity = sum(int(i.get("quantity") or 0) for i in items) or 1
    return SubscriptionFacts(
        status=str(subscription.get("status")),
        plan=plan,
        quantity=quantity,
        current_period_end=min(ends) if ends else None,
        cancel_at_period_end=bool(subscription.get("cancel_at_period_end")),
        cancel_at=subscription.get("cancel_at"),
        created=int(subscription.get("created") or 0),
        id=str(subscription.get("id") or ""),
        collection_paused=bool(subscription.get("pause_collection")),
    )
