"""usage_for, the invoicing engine's view of meter events (in-memory State, no HTTP)."""

from __future__ import annotations

import time
from decimal import Decimal

import orjson
import pytest

from stripesim.billing import meters
from stripesim.errors import InvalidRequest, NotFound
from stripesim.shapes import new_record
from stripesim.state import State

T0 = 1_767_225_600


def setup(formula: str = "sum") -> tuple[State, str, str]:
    state = State()
    clock = new_record("test_helpers.test_clock", "clock", created=T0, frozen_time=T0)
    state.insert(clock)
    cus = new_record("customer", "cus", created=T0, test_clock=clock["id"])
    state.insert(cus)
    meter = new_record(
        "billing.meter",
        "mtr",
        created=T0,
        event_name="calls",
        status="active",
        customer_mapping={"event_payload_key": "stripe_customer_id", "type": "by_id"},
        default_aggregation={"formula": formula},
        value_settings={"event_payload_key": "value"},
    )
    state.insert(meter)
    return state, meter["id"], cus["id"]


def send(state: State, customer: str, value: str, ts: int, identifier: str | None = None) -> None:
    meters.record_event(
        state,
        event_name="calls",
        payload={"stripe_customer_id": customer, "value": value},
        identifier=identifier,
        timestamp=ts,
    )


def test_window_is_start_inclusive_end_exclusive() -> None:
    state, meter, cus = setup()
    for ts, value in ((T0 - 100, "1"), (T0 - 50, "2"), (T0, "4")):
        send(state, cus, value, ts)
    assert meters.usage_for(state, meter, cus, T0 - 100, T0) == Decimal(3)
    assert meters.usage_for(state, meter, cus, T0 - 99, T0 + 1) == Decimal(6)
    assert meters.usage_for(state, meter, cus, T0 + 1, T0 + 2) == Decimal(0)


def test_decimal_values_are_exact() -> None:
    state, meter, cus = setup()
    for _ in range(10):
        send(state, cus, "0.1", T0 - 1)
    assert meters.usage_for(state, meter, cus, T0 - 10, T0) == Decimal("1.0")


def test_last_takes_the_latest_timestamp_not_the_latest_arrival() -> None:
    state, meter, cus = setup("last")
    send(state, cus, "9", T0 - 10)
    send(state, cus, "3", T0 - 20)
    assert meters.usage_for(state, meter, cus, T0 - 100, T0) == Decimal(9)
    assert meters.usage_for(state, meter, cus, T0 - 100, T0 - 15) == Decimal(3)


def test_unknown_meter() -> None:
    state, _, cus = setup()
    with pytest.raises(NotFound):
        meters.usage_for(state, "mtr_nope", cus, 0, T0)


def test_identifier_window_and_persistence() -> None:
    state, meter, cus = setup()
    send(state, cus, "1", T0, identifier="x")
    with pytest.raises(InvalidRequest):
        send(state, cus, "1", T0, identifier="x")
    # After 24 hours of wall time the identifier may be used again.
    state.extras["meter_event_identifiers"]["x"] = time.time() - 24 * 3600 - 1
    send(state, cus, "1", T0, identifier="x")
    # Everything lives in extras as plain JSON, so it survives a dump/load.
    restored = State()
    restored.load(state.dump())
    assert orjson.loads(orjson.dumps(restored.extras)) == restored.extras
    assert meters.usage_for(restored, meter, cus, T0, T0 + 1) == Decimal(2)


def test_thousands_of_events_stay_fast() -> None:
    state, meter, cus = setup()
    clock = state.find(cus)["test_clock"]
    other = new_record("customer", "cus", created=T0, test_clock=clock)
    state.insert(other)
    started = time.perf_counter()
    for i in range(20_000):
        send(state, cus if i % 2 else other["id"], "1", T0 - 30 * 86400 + i)
    recorded = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(20):
        assert meters.usage_for(state, meter, cus, T0 - 31 * 86400, T0) == Decimal(10_000)
    summed = (time.perf_counter() - started) / 20
    # Generous bounds (CI machines vary): ~50 µs per event recorded, 50 ms per aggregation.
    assert recorded < 1.0 * 20, recorded
    assert summed < 0.05, summed
