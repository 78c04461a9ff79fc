"""Which change is an upgrade and which a downgrade, what a request may ask for, and what is
pending in a schedule: pure rules, no Stripe."""

from __future__ import annotations

import pytest

from paywire.billing.errors import IntervalNotOffered, InvalidQuantity, PlanNotFound, SubscriptionConflict
from paywire.billing.pending_changes import pending_change_of
from paywire.billing.plan_changes import ChangeKind, Target, choose_target, direction
from paywire.catalog import Catalog, load_catalog
from paywire.db.models import Subscription, SubscriptionItem, SubscriptionSchedule

CATALOG: Catalog = load_catalog()
UP, DOWN = ChangeKind.UPGRADE, ChangeKind.DOWNGRADE


def target(plan: str, interval: str = "month", quantity: int = 1) -> Target:
    return Target(CATALOG.plans[plan], interval, quantity)


@pytest.mark.parametrize(
    ("current", "wanted", "kind"),
    [
        (("basic", "month", 1), target("pro"), UP),
        (("pro", "month", 1), target("basic"), DOWN),
        (("advanced", "year", 1), target("pro", "month"), UP),  # a higher plan wins over the interval
        (("pro", "month", 3), target("basic", "year"), DOWN),
        (("pro", "month", 1), target("pro", "year"), UP),
        (("basic", "year", 1), target("basic", "month"), DOWN),
        (("pro", "month", 2), target("pro", "month", 5), UP),
        (("pro", "month", 5), target("pro", "month", 2), DOWN),
        (("pro", "month", 5), target("pro", "year", 2), UP),  # yearly now, with its seats
    ],
)
def test_direction(current: tuple[str, str, int], wanted: Target, kind: ChangeKind) -> None:
    plan, interval, quantity = current
    assert direction(CATALOG.plans[plan], interval, quantity, wanted) is kind


def test_the_current_plan_is_no_change() -> None:
    with pytest.raises(SubscriptionConflict) as refused:
        direction(CATALOG.plans["pro"], "month", 3, target("pro", "month", 3))
    assert (refused.value.code, refused.value.field) == ("already_on_plan", "plan")


def test_seats_default_to_the_current_count_on_the_same_per_seat_plan() -> None:
    same = choose_target(CATALOG, plan="pro", interval="year", quantity=None, current_plan="pro", current_quantity=4)
    other = choose_target(CATALOG, plan="pro", interval="year", quantity=None, current_plan="basic", current_quantity=1)
    assert (same.quantity, other.quantity) == (4, 1)


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        ({"plan": None, "interval": "month", "quantity": None}, PlanNotFound),
        ({"plan": "gold", "interval": "month", "quantity": None}, PlanNotFound),
        ({"plan": "pro", "interval": "week", "quantity": None}, IntervalNotOffered),
        ({"plan": "pro", "interval": "month", "quantity": 0}, InvalidQuantity),
        ({"plan": "pro", "interval": "month", "quantity": 101}, InvalidQuantity),
        ({"plan": "advanced", "interval": "month", "quantity": 2}, InvalidQuantity),
    ],
)
def test_requests_checked_against_the_catalog(request_: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        choose_target(CATALOG, current_plan="pro", current_quantity=2, **request_)  # type: ignore[arg-type]


PERIOD_END = 2_000_000_000


def subscription(schedule_id: str | None, period_end: int = PERIOD_END) -> Subscription:
    row = Subscription(
        id="sub_1", status="active", schedule_id=schedule_id, current_period_end=period_end, stripe_object={}
    )
    row.items = [SubscriptionItem(id="si_1", price_id="price_pro_month", quantity=3)]
    return row


def schedule(status: str = "active", second_start: int = PERIOD_END) -> SubscriptionSchedule:
    price = {"id": "price_pro_month", "lookup_key": "pro_month", "recurring": {"interval": "month"}}
    cheaper = {"id": "price_basic_year", "lookup_key": "basic_year", "recurring": {"interval": "year"}}
    return SubscriptionSchedule(
        id="sub_sched_1",
        status=status,
        phases=[
            {"start_date": PERIOD_END - 100, "end_date": second_start, "items": [{"price": price, "quantity": 3}]},
            {"start_date": second_start, "end_date": None, "items": [{"price": cheaper, "quantity": 1}]},
        ],
    )


def test_a_phase_at_the_period_end_is_the_pending_change() -> None:
    found = pending_change_of(CATALOG, subscription("sub_sched_1"), schedule())
    assert found is not None
    assert found.as_dict() == {"plan": "basic", "interval": "year", "quantity": 1, "effective_date": PERIOD_END}


@pytest.mark.parametrize(
    ("row", "sched"),
    [
        (subscription(None), schedule()),  # released: the subscription no longer names it
        (subscription("sub_sched_other"), schedule()),
        (subscription("sub_sched_1"), schedule(status="released")),
        (subscription("sub_sched_1", period_end=PERIOD_END + 10), schedule()),  # already in the new phase
        (subscription("sub_sched_1"), None),
    ],
)
def test_nothing_pending(row: Subscription, sched: SubscriptionSchedule | None) -> None:
    assert pending_change_of(CATALOG, row, sched) is None
