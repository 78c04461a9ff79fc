"""Random sequences of lifecycle operations and test-clock advances against stripesim.

Each example is a new user, subscribed to Basic monthly on their own test clock; hypothesis
then plays a sequence of changes, cancels, reactivations, pauses, unpauses, pending-change
cancellations and clock advances through paywire's HTTP API. After every step:
- the API accepted exactly what the lifecycle table allows for the state it was in, and the
  state it reached is one the table allows (a refusal wrote nothing to Stripe);
- the mirror equals a fresh retrieve from Stripe, right after the operation and again once
  every webhook was delivered and processed;
- `GET /api/billing` follows the rules: its state and access are the lifecycle's for Stripe's
  subscription at the clock's time, its plan, seats and limits are Stripe's price's, and
  `pending_change` is exactly the change waiting in Stripe's schedule.
"""

from __future__ import annotations

from itertools import count
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from paywire.billing import lifecycle
from paywire.billing.lifecycle import LifecycleState, Operation, facts_from_stripe
from paywire.catalog import load_catalog
from paywire.stripe import Kind
from tests.paywire.billing.subscribers import (
    DAY,
    FEB_1,
    Subscriber,
    mirror_view,
    on_a_clock,
    stripe_view,
)
from tests.paywire.conftest import Service
from tests.support.stripesim import Sim

CATALOG = load_catalog()
USERS = count()
OPERATIONS = {
    "/api/subscription/change": Operation.CHANGE_PLAN,
    "/api/subscription/cancel": Operation.CANCEL,
    "/api/subscription/reactivate": Operation.REACTIVATE,
    "/api/subscription/pause": Operation.PAUSE,
    "/api/subscription/unpause": Operation.UNPAUSE,
    "/api/subscription/pending-change/cancel": Operation.CANCEL_PENDING_CHANGE,
}


def newest_event(sim: Sim) -> str | None:
    """The id of the newest event: unchanged means Stripe was not written to."""
    page = sim.client().v1.events.list(params={"limit": 1})
    return str(page.data[0].id) if page.data else None


class LifecycleMachine(RuleBasedStateMachine):
    service: Service
    sim: Sim

    def __init__(self) -> None:
        super().__init__()
        self.subscriber: Subscriber | None = None
        self.clock = FEB_1

    @initialize()
    def subscribe(self) -> None:
        self.subscriber = on_a_clock(self.service, self.sim, f"prop_{next(USERS)}", start=FEB_1)
        self.subscriber.subscribe("basic")
        self.subscriber.settle()

    @property
    def who(self) -> Subscriber:
        assert self.subscriber is not None
        return self.subscriber

    def state(self) -> LifecycleState:
        return lifecycle.state_of(facts_from_stripe(self.who.stripe_subscription()))

    def operate(self, path: str, body: dict[str, Any] | None = None) -> None:
        operation = OPERATIONS[path]
        before = self.state()
        event_before = newest_event(self.sim)
        response = self.who.post(path, body or {})
        if lifecycle.allowed(before, operation):
            assert response.status_code in (200, 409), (path, body, before, response.text)
            if response.status_code == 409:
                # Allowed by the state, refused by the details (already on that plan, a
                # change already pending, nothing pending to cancel): nothing written.
                assert response.json()["error"]["code"] in ("already_on_plan", "change_pending", "no_pending_change")
                assert newest_event(self.sim) == event_before, (path, body, response.text)
            else:
                after = self.state()
                assert after in lifecycle.TRANSITIONS[(before, operation)], (path, before, after)
        else:
            assert response.status_code == 409, (path, body, before, response.text)
            assert response.json()["error"]["code"] == "not_allowed_in_state"
            assert newest_event(self.sim) == event_before, (path, response.text)
        # Right away, before the webhooks: the mirror already is what Stripe holds.
        self.check_mirror()

    @rule(plan=st.sampled_from(["basic", "advanced", "pro"]), interval=st.sampled_from(["month", "year"]))
    def change_plan(self, plan: str, interval: str) -> None:
        self.operate("/api/subscription/change", {"plan": plan, "interval": interval})

    @rule(interval=st.sampled_from(["month", "year"]))
    def change_interval(self, interval: str) -> None:
        plan = self.who.mirror().plan or "basic"
        self.operate("/api/subscription/change", {"plan": plan, "interval": interval})

    @rule(seats=st.integers(1, 4), interval=st.sampled_from(["month", "year"]))
    def change_seats(self, seats: int, interval: str) -> None:
        self.operate("/api/subscription/change", {"plan": "pro", "interval": interval, "quantity": seats})

    @rule()
    def cancel(self) -> None:
        self.operate("/api/subscription/cancel")

    @rule()
    def reactivate(self) -> None:
        self.operate("/api/subscription/reactivate")

    @rule()
    def pause(self) -> None:
        self.operate("/api/subscription/pause")

    @rule()
    def unpause(self) -> None:
        self.operate("/api/subscription/unpause")

    @rule()
    def cancel_pending_change(self) -> None:
        self.operate("/api/subscription/pending-change/cancel")

    @precondition(lambda self: self.subscriber is not None)
    @rule(days=st.integers(1, 40))
    def advance(self, days: int) -> None:
        before = self.state()
        self.clock += days * DAY
        self.who.advance(self.clock)
        assert self.state() in lifecycle.reachable(before), (before, self.state())

    @invariant()
    def settled_mirror_and_billing_follow_stripe(self) -> None:
        if self.subscriber is None:
            return
        self.who.settle()
        self.check_mirror()
        self.check_billing()

    def check_mirror(self) -> None:
        assert mirror_view(self.who.mirror()) == stripe_view(self.who.stripe_subscription())

    def check_billing(self) -> None:
        fresh = self.who.stripe_subscription()
        plan, _ = CATALOG.plan_of_subscription(fresh)
        facts = facts_from_stripe(fresh, plan)
        billing = self.who.billing()
        assert billing["state"] == lifecycle.state_of(facts)
        verdict = lifecycle.access(facts, self.clock, self.service.settings.grace_seconds)
        assert (billing["access"], billing["reason"]) == (verdict.access, verdict.reason)
        if verdict.access:
            assert plan is not None
            assert (billing["plan"], billing["quantity"]) == (plan, facts.quantity)
            assert billing["limits"] == CATALOG.plans[plan].limits_for(facts.quantity)
            assert billing["features"] == list(CATALOG.plans[plan].features)
            assert billing["current_period_end"] == facts.current_period_end
        else:
            assert (billing["plan"], billing["features"]) == (None, [])
        assert billing["pending_change"] == self.expected_pending_change(fresh)

    def expected_pending_change(self, fresh: dict[str, Any]) -> dict[str, Any] | None:
        schedule_id = fresh.get("schedule")
        if not schedule_id or fresh["status"] == "canceled":
            return None
        schedule = self.who.gateway.retrieve(Kind.SUBSCRIPTION_SCHEDULE, schedule_id)
        items = fresh["items"]["data"]
        now_items = sorted((i["price"]["id"], i["quantity"]) for i in items)
        period_end = min(i["current_period_end"] for i in items)
        for phase in schedule["phases"]:
            if phase["start_date"] < period_end:
                continue
            wanted = sorted((i["price"]["id"], i["quantity"]) for i in phase["items"])
            if wanted == now_items:
                continue
            plan, interval = CATALOG.plan_of(i["price"] for i in phase["items"])
            quantity = sum(i["quantity"] for i in phase["items"])
            return {"plan": plan, "interval": interval, "quantity": quantity, "effective_date": phase["start_date"]}
        return None


def test_random_lifecycles_keep_the_mirror_and_billing_right(paywire_service: Service, sim: Sim) -> None:
    LifecycleMachine.service = paywire_service
    LifecycleMachine.sim = sim
    run_state_machine_as_test(
        LifecycleMachine,
        settings=settings(
            max_examples=20,
            stateful_step_count=8,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        ),
    )
