"""The pure parts of usage: an event's fields checked one by one, its identifier derived from
the call, what usage costs by the plan's tiers, and the notices a soft limit owes."""

from __future__ import annotations

from typing import Any

import pytest

from paywire.catalog import Catalog, load_catalog
from paywire.usage.accounts import MeteredItem, UsageAccount
from paywire.usage.allowance import MeterUsage, charge_for, threshold_facts
from paywire.usage.events import (
    FUTURE_WINDOW_SECONDS,
    PAST_WINDOW_SECONDS,
    Refused,
    check_timestamp,
    derive_identifier,
    parse_event,
)

CATALOG: Catalog = load_catalog()
NOW = 1_771_113_600  # 15 Feb 2026


def _event(**fields: Any) -> dict[str, Any]:
    return {"user_id": "u1", "meter": "api_calls", "value": 3, **fields}


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"meter": "tokens"}, "unknown_meter", "meter"),
        ({"meter": None}, "unknown_meter", "meter"),
        ({"value": 2.5}, "invalid_value", "value"),
        ({"value": -1}, "invalid_value", "value"),
        ({"value": True}, "invalid_value", "value"),
        ({"value": "4"}, "invalid_value", "value"),
        ({"value": float("nan")}, "invalid_value", "value"),
        ({"value": 10**15}, "invalid_value", "value"),
        ({"timestamp": "yesterday"}, "invalid_timestamp", "timestamp"),
        ({"identifier": ""}, "invalid_identifier", "identifier"),
        ({"identifier": "a\nb"}, "invalid_identifier", "identifier"),
        ({"identifier": 7}, "invalid_identifier", "identifier"),
        ({"user_id": "x" * 201}, "invalid_user", "user_id"),
        ({"user_id": "a\u202eb"}, "invalid_user", "user_id"),
        ({"extra": 1}, "unknown_field", "extra"),
    ],
)
def test_each_field_is_checked(fields: dict[str, Any], code: str, field: str) -> None:
    with pytest.raises(Refused) as refused:
        parse_event(_event(**fields), CATALOG)
    assert (refused.value.code, refused.value.field) == (code, field)
    assert refused.value.message


def test_a_whole_float_is_a_whole_number_and_value_defaults_to_one() -> None:
    assert parse_event(_event(value=4.0), CATALOG).value == 4
    assert parse_event({"user_id": "u1", "meter": "api_calls"}, CATALOG).value == 1


def test_the_time_window_is_stripes_less_an_hour_for_the_way_there() -> None:
    assert check_timestamp(None, NOW) == NOW
    assert check_timestamp(NOW - PAST_WINDOW_SECONDS, NOW) == NOW - PAST_WINDOW_SECONDS
    assert check_timestamp(NOW + FUTURE_WINDOW_SECONDS, NOW) == NOW + FUTURE_WINDOW_SECONDS
    for outside in (NOW - PAST_WINDOW_SECONDS - 1, NOW + FUTURE_WINDOW_SECONDS + 1):
        with pytest.raises(Refused, match="35 days"):
            check_timestamp(outside, NOW)


def test_identifiers_derived_from_the_call() -> None:
    timed = parse_event(_event(timestamp=NOW), CATALOG)
    same = derive_identifier(timed, request_key=None, index=0)
    assert same == derive_identifier(parse_event(_event(timestamp=NOW), CATALOG), request_key=None, index=3)
    assert same != derive_identifier(parse_event(_event(timestamp=NOW, value=4), CATALOG), request_key=None, index=0)
    keyed = derive_identifier(timed, request_key="svc:k", index=0)
    assert keyed == derive_identifier(timed, request_key="svc:k", index=0)
    assert keyed not in (derive_identifier(timed, request_key="svc:k", index=1), same)
    untimed = parse_event(_event(), CATALOG)
    fresh = {derive_identifier(untimed, request_key=None, index=0) for _ in range(2)}
    assert len(fresh) == 2  # nothing to derive from: a new identifier each call
    assert all(len(i) <= 100 and i.startswith("pw_") for i in (same, keyed))


@pytest.mark.parametrize(("used", "cents"), [(0, 0), (10_000, 0), (10_001, 0), (10_005, 1), (12_500, 250)])
def test_what_usage_costs_by_the_plans_tiers(used: int, cents: int) -> None:
    usage = CATALOG.plans["scale"].usage["api_calls"]
    assert charge_for(usage, "month", used) == cents
    assert charge_for(usage, "year", used + 110_000) == cents  # a year includes twelve months


def test_a_soft_limit_owes_a_notice_at_80_and_100_percent_each_once_per_period() -> None:
    item = MeteredItem("api_calls", "api_calls", "sub_1", "si_1", "scale", "month", 100, 200)
    account = UsageAccount("u1", 1, "cus_1", None, {"api_calls": item})

    def facts(used: int, limit: str = "soft") -> list[str]:
        shown = MeterUsage("api_calls", "API calls", used, 10_000, limit, "0.1", "usd", 100, 200, 0, 0, 0)
        return [f.key for f in threshold_facts(account, shown, item)]

    assert facts(7_999) == []
    assert facts(8_000) == ["usage_threshold:u1:api_calls:100:80"]
    assert facts(12_000) == ["usage_threshold:u1:api_calls:100:80", "usage_threshold:u1:api_calls:100:100"]
    assert facts(12_000, "hard") == []
