"""The discount logic the billing engine calls, against an in-memory State (no HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stripesim.billing import discounts, periods, redemption
from stripesim.errors import InvalidRequest
from stripesim.resources import coupons
from stripesim.shapes import new_record
from stripesim.state import Record, State
from stripesim.wire import Params

T0 = int(datetime(2026, 1, 31, tzinfo=UTC).timestamp())


def make_state() -> State:
    state = State()
    state.now = lambda clock=None: T0  # type: ignore[method-assign]
    return state


def coupon(state: State, **params: Any) -> Record:
    return coupons.create(state, Params({k: str(v) if not isinstance(v, dict) else v for k, v in params.items()}))


def promo(state: State, coupon_id: str, **fields: Any) -> Record:
    record = new_record(
        "promotion_code",
        "promo",
        created=T0,
        active=True,
        code="SAVE",
        customer=None,
        customer_account=None,
        expires_at=None,
        max_redemptions=None,
        times_redeemed=0,
        promotion={"type": "coupon", "coupon": coupon_id},
        restrictions={
            "currency_options": None,
            "first_time_transaction": False,
            "minimum_amount": None,
            "minimum_amount_currency": None,
        },
    )
    restrictions = fields.pop("restrictions", {})
    record["restrictions"].update(restrictions)
    record.update(fields)
    state.insert(record)
    return record


def customer(state: State) -> Record:
    record = new_record("customer", "cus", created=T0, test_clock=None)
    state.insert(record)
    return record


def resolve(state: State, *specs: dict[str, str], **kw: Any) -> list[dict[str, Any]]:
    kw.setdefault("customer", None)
    kw.setdefault("amount_subtotal", None)
    kw.setdefault("product_ids", [])
    return redemption.resolve_discounts(
        state, [Params(s, f"discounts[{i}]") for i, s in enumerate(specs)], param="discounts", **kw
    )


def rejects(match: str, param: str, fn: Any, *args: Any, **kw: Any) -> None:
    with pytest.raises(InvalidRequest, match=match) as info:
        fn(*args, **kw)
    assert info.value.param == param
    assert info.value.status == 400


def test_resolves_coupon_and_promotion_code() -> None:
    state = make_state()
    c = coupon(state, percent_off=10, id="TEN")
    p = promo(state, "TEN")
    c2 = coupon(state, amount_off=500, currency="usd")
    specs = resolve(state, {"promotion_code": p["id"]}, {"coupon": c2["id"]})
    assert specs == [
        {"coupon": c["id"], "promotion_code": p["id"], "discount": None},
        {"coupon": c2["id"], "promotion_code": None, "discount": None},
    ]


def test_unknown_coupon_and_code_name_the_param() -> None:
    state = make_state()
    rejects("No such coupon: 'NOPE'", "discounts[0][coupon]", resolve, state, {"coupon": "NOPE"})
    rejects(
        "No such promotion code",
        "discounts[0][promotion_code]",
        resolve,
        state,
        {"promotion_code": "promo_missing"},
    )


def test_both_or_neither_is_rejected() -> None:
    state = make_state()
    coupon(state, percent_off=5, id="FIVE")
    both = {"coupon": "FIVE", "promotion_code": "x"}
    rejects("exactly one", "discounts[0]", resolve, state, both)
    rejects("exactly one", "discounts[0]", resolve, state, {})


def test_same_coupon_twice_is_rejected() -> None:
    state = make_state()
    coupon(state, percent_off=5, id="FIVE")
    rejects(
        "more than once",
        "discounts[1][coupon]",
        resolve,
        state,
        {"coupon": "FIVE"},
        {"coupon": "FIVE"},
    )


def test_inactive_expired_exhausted_codes() -> None:
    state = make_state()
    coupon(state, percent_off=5, id="FIVE")
    inactive = promo(state, "FIVE", active=False)
    rejects(
        "not active",
        "discounts[0][promotion_code]",
        resolve,
        state,
        {"promotion_code": inactive["id"]},
    )
    expired = promo(state, "FIVE", expires_at=T0 - 1)
    rejects(
        "has expired",
        "discounts[0][promotion_code]",
        resolve,
        state,
        {"promotion_code": expired["id"]},
    )
    used_up = promo(state, "FIVE", max_redemptions=2, times_redeemed=2)
    rejects(
        "maximum number of redemptions",
        "discounts[0][promotion_code]",
        resolve,
        state,
        {"promotion_code": used_up["id"]},
    )


def test_expiry_is_judged_in_the_customers_clock_time() -> None:
    state = State()  # real time for everything without a test clock
    clock = new_record("test_helpers.test_clock", "clock", created=T0, frozen_time=T0)
    state.insert(clock)
    cus = customer(state)
    cus["test_clock"] = clock["id"]
    coupon(state, percent_off=5, id="FIVE")
    # Long expired in real time, but not yet on the customer's clock.
    code = promo(state, "FIVE", expires_at=T0 + 2 * 86400)
    assert state.now() > code["expires_at"]
    assert resolve(state, {"promotion_code": code["id"]}, customer=cus)
    rejects(
        "has expired",
        "discounts[0][promotion_code]",
        resolve,
        state,
        {"promotion_code": code["id"]},
        customer=None,
    )
    clock["frozen_time"] = T0 + 2 * 86400
    rejects(
        "has expired",
        "discounts[0][promotion_code]",
        resolve,
        state,
        {"promotion_code": code["id"]},
        customer=cus,
    )


def test_coupon_past_redeem_by_or_used_up_is_rejected() -> None:
    state = make_state()
    c = coupon(state, percent_off=5, id="FIVE", redeem_by=T0 + 60)
    state.now = lambda clock=None: T0 + 61  # type: ignore[method-assign]
    rejects("Coupon expired", "discounts[0][coupon]", resolve, state, {"coupon": "FIVE"})
    state.now = lambda clock=None: T0  # type: ignore[method-assign]
    c["valid"] = False
    with pytest.raises(InvalidRequest) as info:
        resolve(state, {"coupon": "FIVE"})
    assert info.value.code == "coupon_expired"


def test_first_time_transaction_restriction() -> None:
    state = make_state()
    cus = customer(state)
    coupon(state, percent_off=5, id="FIVE")
    code = promo(state, "FIVE", restrictions={"first_time_transaction": True})
    assert resolve(state, {"promotion_code": code["id"]}, customer=cus)
    state.insert({"id": "ch_1", "object": "charge", "customer": cus["id"], "status": "failed"})
    assert resolve(state, {"promotion_code": code["id"]}, customer=cus)
    state.insert({"id": "in_1", "object": "invoice", "customer": cus["id"], "status": "paid"})
    rejects(
        "prior transactions",
        "discounts[0][promotion_code]",
        resolve,
        state,
        {"promotion_code": code["id"]},
        customer=cus,
    )
    other = customer(state)
    state.insert({"id": "ch_2", "object": "charge", "customer": other["id"], "status": "succeeded"})
    rejects(
        "prior transactions",
        "discounts[0][promotion_code]",
        resolve,
        state,
        {"promotion_code": code["id"]},
        customer=other,
    )


def test_minimum_amount_restriction() -> None:
    state = make_state()
    coupon(state, percent_off=5, id="FIVE")
    code = promo(
        state,
        "FIVE",
        restrictions={
            "minimum_amount": 5000,
            "minimum_amount_currency": "usd",
            "currency_options": {"eur": {"minimum_amount": 4000}},
        },
    )
    spec = {"promotion_code": code["id"]}
    assert resolve(state, spec, amount_subtotal=5000)
    rejects(
        "minimum amount of 5000 usd",
        "discounts[0][promotion_code]",
        resolve,
        state,
        spec,
        amount_subtotal=4999,
    )
    assert resolve(state, spec, amount_subtotal=4000, currency="eur")
    rejects(
        "minimum amount",
        "discounts[0][promotion_code]",
        resolve,
        state,
        spec,
        amount_subtotal=10**6,
        currency="gbp",
    )


def test_customer_restricted_code() -> None:
    state = make_state()
    owner, stranger = customer(state), customer(state)
    coupon(state, percent_off=5, id="FIVE")
    code = promo(state, "FIVE", customer=owner["id"])
    assert resolve(state, {"promotion_code": code["id"]}, customer=owner)
    rejects(
        "another customer",
        "discounts[0][promotion_code]",
        resolve,
        state,
        {"promotion_code": code["id"]},
        customer=stranger,
    )
    rejects(
        "another customer",
        "discounts[0][promotion_code]",
        resolve,
        state,
        {"promotion_code": code["id"]},
        customer=None,
    )


def test_applies_to_must_match_a_product() -> None:
    state = make_state()
    for pid in ("prod_a", "prod_b"):
        state.insert(new_record("product", "prod", created=T0, id=pid))
    coupon(state, percent_off=5, id="ONLY_A", applies_to={"products": ["prod_a"]})
    assert resolve(state, {"coupon": "ONLY_A"}, product_ids=["prod_b", "prod_a"])
    rejects(
        "none of which",
        "discounts[0][coupon]",
        resolve,
        state,
        {"coupon": "ONLY_A"},
        product_ids=["prod_b"],
    )


def test_amount_off_coupon_in_another_currency() -> None:
    state = make_state()
    coupon(
        state,
        amount_off=500,
        currency="usd",
        id="USD5",
        currency_options={"eur": {"amount_off": "450"}},
    )
    assert resolve(state, {"coupon": "USD5"}, currency="eur")
    rejects(
        "cannot be applied",
        "discounts[0][coupon]",
        resolve,
        state,
        {"coupon": "USD5"},
        currency="gbp",
    )


def test_find_promotion_code_is_case_insensitive_and_active_only() -> None:
    state = make_state()
    coupon(state, percent_off=5, id="FIVE")
    promo(state, "FIVE", code="Spring25", active=False)
    live = promo(state, "FIVE", code="Spring25")
    assert redemption.find_promotion_code(state, "spring25") is live
    assert redemption.find_promotion_code(state, "SPRING25 ") is live
    mine = promo(state, "FIVE", code="SPRING25", customer="cus_me")
    assert redemption.find_promotion_code(state, "spring25", customer="cus_me") is mine
    assert redemption.find_promotion_code(state, "spring25", customer="cus_other") is live
    assert redemption.find_promotion_code(state, "spring25") is live
    live["active"] = False
    assert redemption.find_promotion_code(state, "spring25") is None
    assert redemption.find_promotion_code(state, "spring25", customer="cus_me") is mine
    assert redemption.active_with_code(state, "nothing") is None


def test_create_discount_redeems_and_emits() -> None:
    state = make_state()
    seen: list[Record] = []
    state.listeners.append(seen.append)
    cus = customer(state)
    c = coupon(
        state,
        percent_off=20,
        id="TWENTY",
        duration="repeating",
        duration_in_months=3,
        max_redemptions=1,
    )
    code = promo(state, "TWENTY")
    spec = resolve(state, {"promotion_code": code["id"]}, customer=cus)[0]
    seen.clear()
    d = discounts.create_discount(
        state,
        spec,
        customer=cus["id"],
        subscription="sub_1",
        invoice=None,
        checkout_session=None,
        start=T0,
    )
    assert d["id"].startswith("di_") and state.find(d["id"]) is d
    assert d["source"] == {"coupon": "TWENTY", "type": "coupon"}
    assert d["promotion_code"] == code["id"]
    assert d["subscription"] == "sub_1" and d["customer"] == cus["id"]
    # Jan 31 + 3 months clamps to Apr 30.
    assert d["end"] == int(datetime(2026, 4, 30, tzinfo=UTC).timestamp())
    assert "created" not in d and "livemode" not in d  # not fields of a discount
    assert c["times_redeemed"] == 1 and c["valid"] is False
    assert code["times_redeemed"] == 1
    types = [e["type"] for e in seen]
    assert types == ["coupon.updated", "promotion_code.updated", "customer.discount.created"]
    assert seen[0]["data"]["previous_attributes"] == {"times_redeemed": 0, "valid": True}
    shown = state.render(d)
    assert not any(k.startswith("_") for k in shown)
    # The coupon is now used up.
    rejects("Coupon expired", "discounts[0][coupon]", resolve, state, {"coupon": "TWENTY"})


def test_invoice_discount_emits_no_customer_discount_event() -> None:
    state = make_state()
    seen: list[Record] = []
    state.listeners.append(seen.append)
    coupon(state, percent_off=20, id="TWENTY")
    spec = resolve(state, {"coupon": "TWENTY"})[0]
    d = discounts.create_discount(
        state,
        spec,
        customer="cus_x",
        subscription=None,
        invoice="in_1",
        checkout_session=None,
        start=T0,
    )
    assert d["end"] is None
    assert [e["type"] for e in seen] == ["coupon.created", "coupon.updated"]


def test_reusing_an_existing_discount() -> None:
    state = make_state()
    coupon(state, percent_off=20, id="TWENTY")
    first = discounts.create_discount(
        state,
        resolve(state, {"coupon": "TWENTY"})[0],
        customer=None,
        subscription=None,
        invoice=None,
        checkout_session=None,
        start=T0,
    )
    spec = resolve(state, {"discount": first["id"]})[0]
    again = discounts.create_discount(
        state, spec, customer=None, subscription=None, invoice=None, checkout_session=None, start=T0
    )
    assert again is first
    assert state.find("TWENTY")["times_redeemed"] == 1


def test_remove_discount() -> None:
    state = make_state()
    seen: list[Record] = []
    state.listeners.append(seen.append)
    coupon(state, percent_off=20, id="TWENTY")
    d = discounts.create_discount(
        state,
        resolve(state, {"coupon": "TWENTY"})[0],
        customer="cus_1",
        subscription=None,
        invoice=None,
        checkout_session=None,
        start=T0,
    )
    gone = discounts.remove_discount(state, d)
    assert gone["deleted"] is True and gone["id"] == d["id"]
    assert seen[-1]["type"] == "customer.discount.deleted"
    assert discounts.discount_amount(state, d, 1000, at=T0) == 0


def _discount(state: State, **coupon_params: Any) -> Record:
    c = coupon(state, **coupon_params)
    return discounts.create_discount(
        state,
        resolve(state, {"coupon": c["id"]})[0],
        customer=None,
        subscription=None,
        invoice=None,
        checkout_session=None,
        start=T0,
    )


def test_percent_off_rounds_half_up() -> None:
    state = make_state()
    d = _discount(state, percent_off=12.5)
    assert discounts.discount_amount(state, d, 1004, at=T0) == 126  # 125.5 -> 126
    assert discounts.discount_amount(state, d, 1003, at=T0) == 125  # 125.375 -> 125
    assert discounts.discount_amount(state, d, -1004, at=T0) == -126  # credits: symmetric


def test_amount_off_is_capped_and_per_currency() -> None:
    state = make_state()
    d = _discount(state, amount_off=500, currency="usd", currency_options={"eur": {"amount_off": "400"}})
    assert discounts.discount_amount(state, d, 2000, at=T0) == 500
    assert discounts.discount_amount(state, d, 300, at=T0) == 300
    assert discounts.discount_amount(state, d, 0, at=T0) == 0
    assert discounts.discount_amount(state, d, 2000, at=T0, currency="eur") == 400
    assert discounts.discount_amount(state, d, 2000, at=T0, currency="gbp") == 0


def test_repeating_ends_after_its_months() -> None:
    state = make_state()
    d = _discount(state, percent_off=50, duration="repeating", duration_in_months=1)
    end = int(datetime(2026, 2, 28, tzinfo=UTC).timestamp())
    assert d["end"] == end
    assert discounts.discount_amount(state, d, 1000, at=end - 1) == 500
    assert discounts.discount_amount(state, d, 1000, at=end) == 0


def test_once_applies_to_one_invoice_only() -> None:
    state = make_state()
    d = _discount(state, percent_off=50, duration="once")
    assert discounts.discount_amount(state, d, 1000, at=T0) == 500
    discounts.mark_used(d, "in_1")
    discounts.mark_used(d, "in_1")
    assert d["_used_invoices"] == ["in_1"]
    assert discounts.discount_amount(state, d, 1000, at=T0 + 1) == 0
    assert discounts.discount_amount(state, d, 1000, at=T0 + 1, invoice="in_1") == 500
    assert discounts.discount_amount(state, d, 1000, at=T0 + 1, invoice="in_2") == 0


def test_forever_never_ends() -> None:
    state = make_state()
    d = _discount(state, amount_off=100, currency="usd", duration="forever")
    discounts.mark_used(d, "in_1")
    assert discounts.discount_amount(state, d, 1000, at=T0 + 10 * 365 * 86400) == 100


def test_applies_to_excludes_other_products() -> None:
    state = make_state()
    state.insert(new_record("product", "prod", created=T0, id="prod_a"))
    d = _discount(state, percent_off=10, applies_to={"products": ["prod_a"]})
    assert discounts.applies_to_products(d) == ["prod_a"]
    assert discounts.discount_amount(state, d, 1000, at=T0, product_id="prod_a") == 100
    assert discounts.discount_amount(state, d, 1000, at=T0, product_id="prod_b") == 0
    # Without a product the caller has already restricted the amount to eligible lines.
    assert discounts.discount_amount(state, d, 1000, at=T0) == 100


def test_discount_survives_coupon_deletion() -> None:
    state = make_state()
    d = _discount(state, percent_off=10, id="TEN")
    state.find("TEN")["deleted"] = True
    assert discounts.discount_amount(state, d, 1000, at=T0) == 100
    assert discounts.rendered_coupon(state, "TEN")["id"] == "TEN"


def test_nothing_before_the_start() -> None:
    state = make_state()
    d = _discount(state, percent_off=10)
    assert discounts.discount_amount(state, d, 1000, at=T0 - 1) == 0


@given(
    total=st.integers(min_value=0, max_value=10**9),
    weights=st.lists(st.integers(min_value=-(10**6), max_value=10**7), min_size=1, max_size=20),
)
def test_split_amount_sums_exactly(total: int, weights: list[int]) -> None:
    shares = discounts.split_amount(total, weights)
    assert len(shares) == len(weights)
    if any(w > 0 for w in weights):
        assert sum(shares) == total
        assert all(s == 0 for s, w in zip(shares, weights, strict=True) if w <= 0)
    else:
        assert shares == [0] * len(weights)


@given(
    amount=st.integers(min_value=0, max_value=10**9),
    pct=st.floats(min_value=0.01, max_value=100, allow_nan=False),
)
def test_percent_off_never_exceeds_amount(amount: int, pct: float) -> None:
    state = make_state()
    d = _discount(state, percent_off=round(pct, 2))
    off = discounts.discount_amount(state, d, amount, at=T0)
    assert 0 <= off <= amount


def test_add_months_clamps() -> None:
    jan31 = T0
    assert periods.add_months(jan31, 1) == int(datetime(2026, 2, 28, tzinfo=UTC).timestamp())
    assert periods.add_months(jan31, 13) == int(datetime(2027, 2, 28, tzinfo=UTC).timestamp())
    assert periods.add_months(jan31, 12) == int(datetime(2027, 1, 31, tzinfo=UTC).timestamp())
