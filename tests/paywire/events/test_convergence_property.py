"""The ordering property, driven by hypothesis: for random business histories (checkouts,
seat and plan changes, cancellations at period end or now, renewals on a test clock,
one-time passes) under random delivery faults (duplicates, reordering, delays, failed
first deliveries) and random Stripe API errors (500, 429) during the worker's re-reads,
once the queue drains the mirror equals Stripe's state read fresh: subscriptions, their
items and plan, their invoices, pass orders.

Each example is a fresh set of users (and test clocks) against one running service, so
examples do not see each other's objects."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
import stripe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paywire.billing.customers import get_or_create_customer
from paywire.catalog import Catalog
from paywire.stripe import StripeGateway
from tests.paywire.conftest import Service
from tests.paywire.events.conftest import inbox_rows, wait_for
from tests.paywire.events.scenario import (
    Activity,
    buy_pass,
    cancel_now,
    change_plan,
    change_seats,
    mirror_differences,
    retry_failed_deliveries_now,
    set_cancel_at_period_end,
    sim_is_quiet,
    subscribe,
)
from tests.support.stripesim import Sim

T0 = 1_893_456_000  # 2030-01-01T00:00:00Z on each user's test clock
USERS = itertools.count()

subscriptions_made = st.lists(
    st.tuples(st.just("subscribe"), st.sampled_from(["basic", "advanced", "pro"]), st.sampled_from(["month", "year"])),
    min_size=1,
    max_size=2,
)
changes = st.lists(
    st.one_of(
        st.tuples(st.just("seats"), st.integers(0, 3), st.integers(1, 5)),
        st.tuples(st.just("upgrade"), st.integers(0, 3), st.sampled_from(["pro_month", "advanced_month", "pro_year"])),
        st.tuples(st.just("cancel_at_period_end"), st.integers(0, 3), st.booleans()),
        st.tuples(st.just("cancel_now"), st.integers(0, 3)),
        st.tuples(st.just("renew"), st.integers(0, 3)),
        st.tuples(st.just("pass")),
        st.tuples(st.just("subscribe"), st.sampled_from(["basic", "pro"]), st.just("month")),
    ),
    min_size=1,
    max_size=5,
)
webhook_faults = st.fixed_dictionaries(
    {
        "duplicate_rate": st.sampled_from([0.0, 0.5, 1.0]),
        "reorder_window_ms": st.sampled_from([0, 200, 600]),
        "delay_ms": st.sampled_from([0, 100]),
        "fail_first": st.integers(0, 3),
    }
)
api_faults = st.fixed_dictionaries(
    {"error_500_rate": st.sampled_from([0.0, 0.1, 0.25]), "error_429_rate": st.sampled_from([0.0, 0.1])}
)


@pytest.fixture
def converging_service(make_paywire_service: Callable[..., Service]) -> Service:
    """The service and its in-process worker, retrying fast and long enough that API error
    rates delay convergence but never dead-letter an event."""
    return make_paywire_service(
        PAYWIRE_WORKER_RETRY_BASE=0.05,
        PAYWIRE_WORKER_RETRY_CAP=0.3,
        PAYWIRE_WORKER_MAX_ATTEMPTS=100,
        PAYWIRE_STRIPE_MAX_NETWORK_RETRIES=0,
        PAYWIRE_STRIPE_RATE_LIMIT_RETRIES=1,
        PAYWIRE_STRIPE_RATE_LIMIT_BACKOFF=0.01,
    )


def on_a_clock(service: Service, sim: Sim, user_id: str) -> str:
    clock = sim.client().v1.test_helpers.test_clocks.create(params={"frozen_time": T0})
    with service.sessions() as session:
        get_or_create_customer(
            session,
            StripeGateway.from_settings(service.settings),
            user_id=user_id,
            email=f"{user_id}@example.com",
            test_clock=clock.id,
        )
        session.commit()
    return str(clock.id)


def run(
    service: Service, sim: Sim, activity: Activity, operation: tuple[Any, ...], subs: list[tuple[str, str]]
) -> None:
    """One business operation; `subs` is this example's (subscription, clock) so far."""
    client = sim.client()
    kind = operation[0]
    if kind == "subscribe":
        user = f"user_prop_{next(USERS)}"
        clock = on_a_clock(service, sim, user)
        subscription_id = subscribe(service, sim, activity, user, operation[1], operation[2], quantity=2)
        if subscription_id is not None:
            subs.append((subscription_id, clock))
        return
    if kind == "pass":
        buy_pass(service, sim, activity, f"user_prop_pass_{next(USERS)}")
        return
    if not subs:
        return
    subscription_id, clock = subs[operation[1] % len(subs)]
    try:
        if kind == "seats":
            change_seats(client, subscription_id, operation[2])
        elif kind == "upgrade":
            change_plan(client, subscription_id, operation[2])
        elif kind == "cancel_at_period_end":
            set_cancel_at_period_end(client, subscription_id, operation[2])
        elif kind == "cancel_now":
            cancel_now(client, subscription_id)
        elif kind == "renew":
            sub = client.v1.subscriptions.retrieve(subscription_id)
            if sub.status != "canceled":
                period_end = min(i.current_period_end for i in sub["items"].data)
                # Past the period end and the renewal invoice's hour as a draft: it is charged.
                sim.advance(client, clock, period_end + 7200)
    except stripe.InvalidRequestError:
        pass  # e.g. changing a canceled subscription: Stripe refuses, nothing happened


def drained(service: Service, sim: Sim) -> bool:
    if not sim_is_quiet(sim):
        retry_failed_deliveries_now(sim)
        return False
    return all(r.state in ("processed", "ignored") for r in inbox_rows(service))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=subscriptions_made, then=changes, hooks=webhook_faults, api=api_faults)
def test_the_mirror_equals_stripe_after_any_history_under_any_faults(
    converging_service: Service,
    sim: Sim,
    catalog: Catalog,
    first: list[tuple[Any, ...]],
    then: list[tuple[Any, ...]],
    hooks: dict[str, Any],
    api: dict[str, float],
) -> None:
    service = converging_service
    activity = Activity()
    subs: list[tuple[str, str]] = []
    sim.control("faults", {"clear": True, "webhooks": {**hooks, "failed_so_far": 0}})
    for operation in [*first, *then]:
        run(service, sim, activity, operation, subs)

    # Stripe falters while the worker re-reads what these events announced …
    sim.control("faults", {"api": api})
    try:
        wait_for("the worker through the API errors", lambda: drained(service, sim), timeout=60)
    finally:
        sim.control("faults", {"clear": True})
    # … and when all is delivered and worked off, the mirror is Stripe.
    wait_for("every delivery worked off", lambda: drained(service, sim), timeout=60)
    assert mirror_differences(service, sim, catalog, activity) == {}
    assert not [r.id for r in inbox_rows(service) if r.state == "dead"]
