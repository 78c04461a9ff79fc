"""MRR arithmetic: normalisation to a month, seats, forever discounts, what counts. Pure."""

from __future__ import annotations

from typing import Any

import pytest

from paywire.revenue.mrr import configured_value, monthly_value


def price(amount: int, interval: str = "month", **extra: Any) -> dict[str, Any]:
    recurring = {
        "interval": interval,
        "interval_count": extra.pop("count", 1),
        "usage_type": extra.pop("usage", "licensed"),
    }
    return {
        "id": f"price_{amount}_{interval}",
        "unit_amount": amount,
        "currency": "usd",
        "recurring": recurring,
        **extra,
    }


def subscription(*items: tuple[dict[str, Any], int], status: str = "active", **extra: Any) -> dict[str, Any]:
    data = [{"id": f"si_{n}", "price": p, "quantity": q} for n, (p, q) in enumerate(items)]
    return {"id": "sub_1", "status": status, "currency": "usd", "items": {"data": data}, **extra}


def forever(percent: float | None = None, amount: int | None = None, **coupon: Any) -> dict[str, Any]:
    terms = {"duration": "forever", "percent_off": percent, "amount_off": amount, "currency": "usd", **coupon}
    return {"id": "di_1", "start": 100, "source": {"type": "coupon", "coupon": terms}}


@pytest.mark.parametrize(
    ("item", "quantity", "expected"),
    [
        (price(1000), 1, 1000),
        (price(1000), 3, 3000),  # seats x unit
        (price(10000, "year"), 1, 833),  # a year / 12, rounded half up: 833.33
        (price(5000, "year"), 1, 417),  # 416.67
        (price(300, "week"), 1, 1300),  # 300 x 52 / 12
        (price(3000, "month", count=3), 1, 1000),  # a quarter / 3
        (price(100, "day"), 1, 3042),  # 100 x 365 / 12 = 3041.67
        (price(42, usage="metered"), 1, 0),  # usage is not recurring revenue
    ],
)
def test_one_item_normalised_to_a_month(item: dict[str, Any], quantity: int, expected: int) -> None:
    assert monthly_value(subscription((item, quantity))) == expected


def test_items_add_up_and_a_one_time_price_is_not_recurring() -> None:
    one_time = {"id": "price_once", "unit_amount": 999, "currency": "usd", "recurring": None}
    assert monthly_value(subscription((price(1000), 2), (price(500), 1), (one_time, 1))) == 2500


@pytest.mark.parametrize(
    ("status", "extra", "counted"),
    [
        ("active", {}, True),
        ("past_due", {}, True),  # still the customer's while dunning retries
        ("trialing", {}, False),
        ("incomplete", {}, False),
        ("incomplete_expired", {}, False),
        ("unpaid", {}, False),
        ("canceled", {}, False),
        ("paused", {}, False),
        ("active", {"pause_collection": {"behavior": "void"}}, False),
    ],
)
def test_what_counts(status: str, extra: dict[str, Any], counted: bool) -> None:
    sub = subscription((price(1000), 1), status=status, **extra)
    assert monthly_value(sub) == (1000 if counted else 0)
    assert configured_value(sub) == 1000


def test_a_forever_discount_is_deducted_one_that_ends_is_not() -> None:
    percent = subscription((price(1000), 2), discounts=[forever(percent=20)])
    amount_yearly = subscription((price(12000, "year"), 1), discounts=[forever(amount=1200)])
    repeating = forever(percent=50)
    repeating["source"]["coupon"]["duration"] = "repeating"
    assert monthly_value(percent) == 1600
    assert monthly_value(amount_yearly) == 900  # 1200 off each yearly invoice: 100 a month
    assert monthly_value(subscription((price(1000), 1), discounts=[repeating])) == 1000
    assert monthly_value(subscription((price(1000), 1), discounts=["di_unexpanded"])) == 1000


def test_a_discount_never_makes_revenue_negative_and_respects_its_products() -> None:
    big = subscription((price(500), 1), discounts=[forever(amount=10_000)])
    only_other = subscription((price(1000), 1), discounts=[forever(percent=50, applies_to={"products": ["prod_x"]})])
    assert monthly_value(big) == 0
    assert monthly_value(only_other) == 1000


def test_tiered_prices_without_their_tiers_count_nothing_rather_than_a_guess() -> None:
    assert monthly_value(subscription((price(1000, billing_scheme="tiered"), 5))) == 0
