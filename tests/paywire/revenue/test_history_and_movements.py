"""When a value changed (from a state change, or rebuilt from invoices) and what movement a
customer's change is. Pure."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from paywire.revenue.history import INVOLUNTARY, VOLUNTARY, Step, churn_kind, effective_at, history
from paywire.revenue.movements import Change, classify, movements, mrr_at

DAY = 86_400
T0 = 1_769_904_000  # 2026-02-01
BASIC = {"id": "price_basic", "unit_amount": 500, "currency": "usd", "recurring": {"interval": "month"}}
PRO = {"id": "price_pro", "unit_amount": 1000, "currency": "usd", "recurring": {"interval": "month"}}


def sub(price: dict[str, Any], quantity: int = 1, *, period: int = T0, **state: Any) -> dict[str, Any]:
    item = {"id": "si_1", "price": price, "quantity": quantity, "current_period_start": period}
    base = {"id": "sub_1", "customer": "cus_1", "status": "active", "start_date": T0, "items": {"data": [item]}}
    return {**base, **state}


def line(price: str, quantity: int, start: int, end: int, amount: int, *, proration: bool = False) -> dict[str, Any]:
    return {
        "amount": amount,
        "quantity": quantity,
        "period": {"start": start, "end": end},
        "pricing": {"price_details": {"price": price}, "unit_amount_decimal": None},
        "parent": {"subscription_item_details": {"proration": proration}},
    }


def invoice(reason: str, created: int, *lines: dict[str, Any], status: str = "paid") -> dict[str, Any]:
    return {
        "id": f"in_{created}",
        "billing_reason": reason,
        "created": created,
        "status": status,
        "lines": {"data": list(lines)},
    }


def never() -> int:
    raise AssertionError("the state says when: now() is not asked")


def test_effective_times_come_from_the_state_where_stripe_records_them() -> None:
    ended = sub(BASIC, status="canceled", ended_at=T0 + 40 * DAY, cancellation_details={"reason": "payment_failed"})
    assert effective_at(sub(BASIC), ended, never) == (T0 + 40 * DAY, "payment_failed")
    converted = sub(BASIC, trial_start=T0, trial_end=T0 + 14 * DAY)
    assert effective_at(sub(BASIC, status="trialing"), converted, never) == (T0 + 14 * DAY, "trial_converted")
    renewed = sub(BASIC, period=T0 + 28 * DAY)
    assert effective_at(sub(PRO, 2), renewed, never) == (T0 + 28 * DAY, "renewal_change")
    discount = {"id": "di_1", "start": T0 + 4 * DAY, "source": {"coupon": {"duration": "forever", "percent_off": 20}}}
    assert effective_at(sub(BASIC), sub(BASIC, discounts=[discount]), never) == (T0 + 4 * DAY, "discount")
    assert effective_at(sub(BASIC), sub(PRO), lambda: T0 + 9 * DAY) == (T0 + 9 * DAY, "plan_changed")
    assert effective_at(sub(BASIC, status="unpaid"), sub(BASIC), lambda: T0 + 50 * DAY) == (T0 + 50 * DAY, "resumed")


def test_churn_is_voluntary_unless_a_payment_failed() -> None:
    assert (
        churn_kind(sub(BASIC, status="canceled", cancellation_details={"reason": "cancellation_requested"}))
        == VOLUNTARY
    )
    assert churn_kind(sub(BASIC, status="canceled", cancellation_details={"reason": "payment_failed"})) == INVOLUNTARY
    assert churn_kind(sub(BASIC, status="unpaid")) == INVOLUNTARY
    assert churn_kind(sub(BASIC, status="active")) is None


def test_history_from_invoices_dates_each_change() -> None:
    month = 28 * DAY
    state = sub(PRO, 3, period=T0 + month, status="canceled", ended_at=T0 + 2 * month)
    state["cancellation_details"] = {"reason": "cancellation_requested"}
    invoices = [
        invoice("subscription_cycle", T0 + month, line("price_pro", 3, T0 + month, T0 + 2 * month, 3000)),
        invoice("subscription_create", T0, line("price_basic", 1, T0, T0 + month, 500)),
        invoice(
            "subscription_update",
            T0 + 9 * DAY,
            line("price_basic", 1, T0 + 9 * DAY, T0 + month, -300, proration=True),
            line("price_pro", 1, T0 + 9 * DAY, T0 + month, 600, proration=True),
        ),
        invoice(
            "subscription_update",
            T0 + 19 * DAY,
            line("price_pro", 5, T0 + 19 * DAY, T0 + month, 9, proration=True),
            status="void",
        ),
    ]
    assert history(state, invoices, {"price_basic": BASIC}) == [
        Step(T0, 500, "started"),
        Step(T0 + 9 * DAY, 1000, "plan_changed"),
        Step(T0 + month, 3000, "plan_changed"),
        Step(T0 + 2 * month, 0, "canceled", VOLUNTARY),
    ]


def test_history_of_a_trial() -> None:
    converted = sub(BASIC, trial_start=T0, trial_end=T0 + 14 * DAY)
    lost = sub(BASIC, trial_start=T0, trial_end=T0 + 14 * DAY, status="canceled", ended_at=T0 + 14 * DAY)
    assert history(converted, [], {}) == [Step(T0 + 14 * DAY, 500, "trial_converted")]
    assert history(lost, [], {}) == []
    assert history(sub(BASIC, trial_start=T0, trial_end=T0 + 14 * DAY, status="trialing"), [], {}) == []
    # Still in its trial, whatever its invoices say (the backfill of `paywire sync` relies on it).
    billed = [
        invoice("subscription_update", T0 + DAY, line("price_pro", 1, T0 + DAY, T0 + 28 * DAY, 900, proration=True)),
        invoice("subscription_create", T0, line("price_basic", 2, T0, T0 + 28 * DAY, 1000)),
    ]
    in_trial = sub(PRO, 2, trial_start=T0, trial_end=T0 + 30 * DAY, status="trialing")
    assert history(in_trial, billed, {"price_basic": BASIC}) == []
    assert history({**in_trial, "status": "active"}, billed, {"price_basic": BASIC}) != []


def test_movements_per_customer() -> None:
    changes = [
        Change(T0, "cus_a", "sub_a", 0, 500),
        Change(T0, "cus_b", "sub_b", 0, 1000),
        Change(T0 + DAY, "cus_a", "sub_a", 500, 1500),
        Change(T0 + 2 * DAY, "cus_b", "sub_b", 1000, 800),
        Change(T0 + 3 * DAY, "cus_b", "sub_b", 800, 0, churn=INVOLUNTARY),
        Change(T0 + 4 * DAY, "cus_b", "sub_b2", 0, 700),
        # a switch of subscriptions in one second is one movement of the customer
        Change(T0 + 5 * DAY, "cus_a", "sub_a", 1500, 0, churn=VOLUNTARY),
        Change(T0 + 5 * DAY, "cus_a", "sub_a2", 0, 2000),
    ]
    found = [(m.kind, m.amount, m.churn) for m in movements(reversed(changes))]
    assert found == [
        ("new", 500, None),
        ("new", 1000, None),
        ("expansion", 1000, None),
        ("contraction", -200, None),
        ("churn", -800, INVOLUNTARY),
        ("reactivation", 700, None),
        ("expansion", 500, None),
    ]
    assert mrr_at(changes, T0 + 5 * DAY) == 2700
    assert classify(0, 0, paid_before=True) is None


amounts = st.integers(0, 5).map(lambda n: n * 250)


@given(st.lists(st.tuples(st.sampled_from(["cus_a", "cus_b"]), st.sampled_from(["x", "y"]), amounts), max_size=25))
def test_movements_add_up_to_the_mrr(script: list[tuple[str, str, int]]) -> None:
    """Whatever happens, the movements sum to the MRR at the end, and only churn ends at 0."""
    values: dict[str, int] = {}
    changes = []
    for at, (customer, which, value) in enumerate(script):
        subscription = f"{customer}_{which}"
        before = values.get(subscription, 0)
        if before != value:
            changes.append(Change(T0 + at, customer, subscription, before, value))
            values[subscription] = value
    found = movements(changes)
    assert sum(m.amount for m in found) == sum(values.values()) == mrr_at(changes, T0 + len(script))
    assert all((m.mrr_after == 0) == (m.kind == "churn") for m in found)
