from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from paywire.billing.entitlements import (
    Entitlement,
    PassFacts,
    SubscriptionFacts,
    decide,
    entitlement_for,
)
from paywire.catalog import Catalog, load_catalog
from paywire.db.repositories import customers
from paywire.mirror import test_clocks as mirrored_clocks
from tests.paywire.factories import mirror_subscription, paid_pass

DAY = 86400
NOW = 1_900_000_000
GRACE = 3 * DAY
END = NOW + 10 * DAY  # the current period ends in ten days
CATALOG = load_catalog()


def sub(status: str, **kwargs: object) -> SubscriptionFacts:
    values: dict[str, object] = {"plan": "pro", "current_period_end": END, "quantity": 3}
    values.update(kwargs)
    return SubscriptionFacts(status=status, **values)  # type: ignore[arg-type]


def one(s: SubscriptionFacts, now: int = NOW) -> Entitlement:
    return decide(CATALOG, [s], [], now, GRACE)


@pytest.mark.parametrize(
    ("facts", "now", "access", "reason"),
    [
        (sub("active"), NOW, True, "active"),
        (sub("active"), END + 5 * DAY, True, "active"),  # renewal pending: keep access
        (sub("trialing"), NOW, True, "trialing"),
        (sub("past_due"), NOW, True, "past_due_grace"),
        (sub("past_due"), END + GRACE - 1, True, "past_due_grace"),
        (sub("past_due"), END + GRACE, False, "past_due_grace_ended"),
        (sub("active", cancel_at_period_end=True), END - 1, True, "canceling_at_period_end"),
        (sub("active", cancel_at_period_end=True), END, False, "canceled_at_period_end"),
        (sub("active", cancel_at=END - DAY), END - DAY, False, "canceled_at_period_end"),
        (sub("trialing", cancel_at=END), NOW, True, "canceling_at_period_end"),
        (sub("canceled"), NOW, False, "canceled"),
        (sub("unpaid"), NOW, False, "unpaid"),
        (sub("incomplete"), NOW, False, "incomplete"),
        (sub("incomplete_expired"), NOW, False, "incomplete_expired"),
        (sub("paused"), NOW, False, "paused"),
        (sub("active", plan=None), NOW, False, "unknown_plan"),
        (sub("active", plan="platinum"), NOW, False, "unknown_plan"),
        (sub("something_new"), NOW, False, "unknown_status:something_new"),
    ],
)
def test_subscription_rules(facts: SubscriptionFacts, now: int, access: bool, reason: str) -> None:
    result = one(facts, now)
    assert (result.access, result.reason) == (access, reason)
    if access:
        assert result.plan == "pro" and "api_access" in result.features
        assert result.quantity == 3 and result.limits == CATALOG.plans["pro"].limits_for(3)
        assert result.limits["members"] == 3  # members_per_seat = 1, three seats
    else:
        assert result.plan is None and result.features == () and result.limits == {}


def test_cancel_at_period_end_is_reported() -> None:
    result = one(sub("active", cancel_at_period_end=True))
    assert result.cancel_at_period_end and result.access_until == END
    assert result.current_period_end == END


def test_nothing_means_no_plan() -> None:
    result = decide(CATALOG, [], [], NOW, GRACE)
    assert result.as_dict() == {
        "plan": None,
        "status": None,
        "access": False,
        "reason": "no_subscription",
        "features": [],
        "limits": {},
        "quantity": None,
        "current_period_end": None,
        "cancel_at_period_end": False,
        "access_until": None,
        "source": None,
        "state": None,
        "pending_change": None,
        "pending_payment": None,
    }


def basic_pass(starts: int, ends: int | None) -> PassFacts:
    return PassFacts("pass-3-months", "basic", starts, ends)


def test_a_pass_grants_basic_until_it_ends() -> None:
    p = basic_pass(NOW - DAY, NOW + DAY)
    during = decide(CATALOG, [], [p], NOW, GRACE)
    assert (during.plan, during.access, during.reason, during.source) == (
        "basic",
        True,
        "pass",
        "pass",
    )
    assert during.access_until == NOW + DAY
    after = decide(CATALOG, [], [p], NOW + DAY, GRACE)
    assert (after.plan, after.access, after.reason) == (None, False, "pass_expired")
    unfulfilled = decide(CATALOG, [], [basic_pass(NOW, None)], NOW, GRACE)
    assert unfulfilled.reason == "pass_not_fulfilled" and not unfulfilled.access


def test_passes_bought_back_to_back_grant_until_the_last_one_ends() -> None:
    first, second = basic_pass(NOW - DAY, NOW + DAY), basic_pass(NOW + DAY, NOW + 91 * DAY)
    during = decide(CATALOG, [], [second, first], NOW, GRACE)
    assert (during.plan, during.access_until, during.current_period_end) == ("basic", NOW + 91 * DAY, NOW + 91 * DAY)
    later = decide(CATALOG, [], [first, second], NOW + 2 * DAY, GRACE)
    assert (later.access, later.access_until) == (True, NOW + 91 * DAY)


def test_the_highest_plan_wins() -> None:
    basic_sub = sub("active", plan="basic")
    pro_sub = sub("active", plan="pro")
    assert decide(CATALOG, [basic_sub, pro_sub], [], NOW, GRACE).plan == "pro"
    assert decide(CATALOG, [pro_sub], [basic_pass(NOW - 1, NOW + DAY)], NOW, GRACE).plan == "pro"
    canceled_pro = sub("canceled", plan="pro")
    granted = decide(CATALOG, [canceled_pro], [basic_pass(NOW - 1, NOW + DAY)], NOW, GRACE)
    assert (granted.plan, granted.source) == ("basic", "pass")


def test_without_access_the_latest_subscription_explains_why() -> None:
    old = sub("canceled", created=1)
    newer = sub("incomplete_expired", created=2)
    assert decide(CATALOG, [old, newer], [], NOW, GRACE).reason == "incomplete_expired"


statuses = st.sampled_from(
    [
        "active",
        "trialing",
        "past_due",
        "canceled",
        "unpaid",
        "incomplete",
        "incomplete_expired",
        "paused",
    ]
)


@given(
    status=statuses,
    cancel=st.booleans(),
    period_end=st.integers(NOW - 100 * DAY, NOW + 100 * DAY),
    now=st.integers(NOW - 100 * DAY, NOW + 200 * DAY),
    grace=st.integers(0, 30 * DAY),
)
def test_access_never_outlives_a_scheduled_end_or_the_grace(
    status: str, cancel: bool, period_end: int, now: int, grace: int
) -> None:
    facts = SubscriptionFacts(
        status=status, plan="advanced", current_period_end=period_end, cancel_at_period_end=cancel
    )
    result = decide(CATALOG, [facts], [], now, grace)
    if result.access:
        assert status in ("active", "trialing", "past_due")
        assert result.features == CATALOG.plans["advanced"].features
    if cancel and now >= period_end:
        assert not result.access
    if status == "past_due" and now >= period_end + grace:
        assert not result.access
    if status in ("active", "trialing") and not cancel:
        assert result.access


def test_entitlement_for_reads_the_mirror(session: Session) -> None:
    catalog: Catalog = CATALOG
    assert entitlement_for(session, "u1", NOW, catalog=catalog, grace_seconds=GRACE).plan is None
    mirror_subscription(session, "u1", plan="advanced", status="active", period_start=NOW - DAY, period_end=END)
    result = entitlement_for(session, "u1", NOW, catalog=catalog, grace_seconds=GRACE)
    assert (result.plan, result.status, result.access) == ("advanced", "active", True)
    assert result.current_period_end == END
    assert entitlement_for(session, "u2", NOW, catalog=catalog, grace_seconds=GRACE).plan is None


def test_entitlement_for_uses_the_test_clock_as_now(session: Session) -> None:
    customers.add_customer(session, user_id="u1", stripe_customer_id="cus_1", email=None, test_clock_id="clock_1")
    mirrored_clocks.save(session, {"id": "clock_1", "frozen_time": NOW, "status": "ready"})
    paid_pass(session, "u1", starts=NOW - DAY, ends=NOW + DAY)
    # Real time is years before NOW: with the clock's time the pass is current.
    assert entitlement_for(session, "u1", catalog=CATALOG, grace_seconds=GRACE).plan == "basic"
    mirrored_clocks.save(session, {"id": "clock_1", "frozen_time": NOW + 2 * DAY, "status": "ready"})
    session.commit()
    later = entitlement_for(session, "u1", catalog=CATALOG, grace_seconds=GRACE)
    assert (later.access, later.reason) == (False, "pass_expired")


def test_pending_orders_grant_nothing(session: Session) -> None:
    paid_pass(session, "u1", starts=NOW - DAY, ends=NOW + DAY, status="pending")
    assert not entitlement_for(session, "u1", NOW, catalog=CATALOG, grace_seconds=GRACE).access
