"""Billing meters, meter events and event summaries through the official SDK."""

from __future__ import annotations

import time

import pytest
import stripe

from tests.support.stripesim import Sim

HOUR = 3600


def _meter(
    client: stripe.StripeClient, formula: str = "sum", name: str = "api_calls", **extra: object
) -> stripe.billing.Meter:
    return client.v1.billing.meters.create(
        params={
            "display_name": name.title(),
            "event_name": name,
            "default_aggregation": {"formula": formula},
            **extra,  # type: ignore[typeddict-item]
        }
    )


def _send(
    client: stripe.StripeClient,
    customer: str,
    value: str | None,
    ts: int | None = None,
    identifier: str | None = None,
    event_name: str = "api_calls",
) -> stripe.billing.MeterEvent:
    payload = {"stripe_customer_id": customer}
    if value is not None:
        payload["value"] = value
    params: dict[str, object] = {"event_name": event_name, "payload": payload}
    if ts is not None:
        params["timestamp"] = ts
    if identifier is not None:
        params["identifier"] = identifier
    return client.v1.billing.meter_events.create(params=params)  # type: ignore[arg-type]


def _summaries(
    client: stripe.StripeClient, meter: str, customer: str, start: int, end: int, **extra: object
) -> list[stripe.billing.MeterEventSummary]:
    page = client.v1.billing.meters.event_summaries.list(
        meter,
        params={"customer": customer, "start_time": start, "end_time": end, **extra},  # type: ignore[typeddict-item]
    )
    return list(page.data)


def test_meter_lifecycle(stripe_client: stripe.StripeClient) -> None:
    m = _meter(stripe_client)
    assert m.id.startswith("mtr_") and m.object == "billing.meter" and m.status == "active"
    assert m.customer_mapping.event_payload_key == "stripe_customer_id"
    assert m.customer_mapping.type == "by_id"
    assert m.value_settings.event_payload_key == "value"
    assert m.default_aggregation.formula == "sum"
    assert m.status_transitions.deactivated_at is None and m.event_time_window is None
    assert stripe_client.v1.billing.meters.retrieve(m.id).to_dict() == m.to_dict()
    renamed = stripe_client.v1.billing.meters.update(m.id, params={"display_name": "Calls"})
    assert renamed.display_name == "Calls"
    off = stripe_client.v1.billing.meters.deactivate(m.id)
    assert off.status == "inactive" and off.status_transitions.deactivated_at is not None
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.billing.meters.deactivate(m.id)
    assert [x.id for x in stripe_client.v1.billing.meters.list(params={"status": "inactive"}).data] == [m.id]
    assert stripe_client.v1.billing.meters.list(params={"status": "active"}).data == []
    on = stripe_client.v1.billing.meters.reactivate(m.id)
    assert on.status == "active" and on.status_transitions.deactivated_at is None
    types = [e.type for e in stripe_client.v1.events.list(params={"type": "billing.meter.*"}).data]
    assert types == [
        "billing.meter.reactivated",
        "billing.meter.deactivated",
        "billing.meter.updated",
        "billing.meter.created",
    ]


def test_meter_validation(stripe_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        _meter(stripe_client, formula="max")
    assert info.value.param == "default_aggregation[formula]"
    _meter(stripe_client)
    with pytest.raises(stripe.InvalidRequestError) as info:
        _meter(stripe_client)
    assert info.value.param == "event_name"
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.billing.meters.create(params={"display_name": "x", "event_name": "y"})  # type: ignore[typeddict-item]
    assert info.value.param == "default_aggregation"


def test_custom_payload_keys(stripe_client: stripe.StripeClient) -> None:
    m = _meter(
        stripe_client,
        customer_mapping={"event_payload_key": "cust", "type": "by_id"},
        value_settings={"event_payload_key": "tokens"},
    )
    cus = stripe_client.v1.customers.create()
    now = int(time.time())
    stripe_client.v1.billing.meter_events.create(
        params={
            "event_name": "api_calls",
            "payload": {"cust": cus.id, "tokens": "7"},
            "timestamp": now,
        }
    )
    with pytest.raises(stripe.InvalidRequestError) as info:
        _send(stripe_client, cus.id, "3")  # sends stripe_customer_id, not cust
    assert info.value.param == "payload[cust]"
    start = now - now % 60
    assert _summaries(stripe_client, m.id, cus.id, start, start + 120)[0].aggregated_value == 7


def test_meter_event_shape_and_defaults(stripe_client: stripe.StripeClient) -> None:
    _meter(stripe_client)
    cus = stripe_client.v1.customers.create()
    before = int(time.time())
    event = _send(stripe_client, cus.id, "25")
    assert event.object == "billing.meter_event" and event.event_name == "api_calls"
    assert event.payload.to_dict() == {"stripe_customer_id": cus.id, "value": "25"}
    assert before <= event.timestamp <= int(time.time()) and event.identifier
    assert event.livemode is False and event.created == event.timestamp


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({}, "payload"),  # an empty hash is not sent at all
        ({"value": "1"}, "payload[stripe_customer_id]"),
        ({"stripe_customer_id": "cus_nope", "value": "1"}, "payload[stripe_customer_id]"),
        ({"stripe_customer_id": "CUS", "value": "abc"}, "payload[value]"),
        ({"stripe_customer_id": "CUS"}, "payload[value]"),
    ],
)
def test_meter_event_validation(stripe_client: stripe.StripeClient, payload: dict[str, str], param: str) -> None:
    _meter(stripe_client)
    cus = stripe_client.v1.customers.create()
    payload = {k: (cus.id if v == "CUS" else v) for k, v in payload.items()}
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.billing.meter_events.create(params={"event_name": "api_calls", "payload": payload})
    assert info.value.param == param


def test_meter_event_needs_an_active_meter(stripe_client: stripe.StripeClient) -> None:
    cus = stripe_client.v1.customers.create()
    with pytest.raises(stripe.InvalidRequestError) as info:
        _send(stripe_client, cus.id, "1", event_name="nothing")
    assert info.value.param == "event_name"
    m = _meter(stripe_client, name="nothing")
    stripe_client.v1.billing.meters.deactivate(m.id)
    with pytest.raises(stripe.InvalidRequestError):
        _send(stripe_client, cus.id, "1", event_name="nothing")


def test_identifier_deduplicates(stripe_client: stripe.StripeClient) -> None:
    m = _meter(stripe_client)
    cus = stripe_client.v1.customers.create()
    now = int(time.time())
    _send(stripe_client, cus.id, "5", ts=now, identifier="req-1")
    with pytest.raises(stripe.InvalidRequestError) as info:
        _send(stripe_client, cus.id, "5", ts=now, identifier="req-1")
    assert info.value.http_status == 400 and info.value.param == "identifier"
    assert "already exists" in str(info.value.user_message)
    _send(stripe_client, cus.id, "5", ts=now, identifier="req-2")
    start = now - now % 60
    assert _summaries(stripe_client, m.id, cus.id, start, start + 120)[0].aggregated_value == 10


def test_timestamp_window(stripe_client: stripe.StripeClient) -> None:
    _meter(stripe_client)
    cus = stripe_client.v1.customers.create()
    now = int(time.time())
    _send(stripe_client, cus.id, "1", ts=now - 34 * 86400)
    _send(stripe_client, cus.id, "1", ts=now + 240)
    for bad in (now - 36 * 86400, now + 600):
        with pytest.raises(stripe.InvalidRequestError) as info:
            _send(stripe_client, cus.id, "1", ts=bad)
        assert info.value.param == "timestamp"


def test_timestamp_defaults_to_the_customers_clock(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    frozen = 1_767_225_600  # 2026-01-01T00:00:00Z
    clock = stripe_client.v1.test_helpers.test_clocks.create(params={"frozen_time": frozen})
    cus = stripe_client.v1.customers.create(params={"test_clock": clock.id})
    m = _meter(stripe_client)
    assert _send(stripe_client, cus.id, "3").timestamp == frozen
    # 35 days before the clock, not before real time.
    with pytest.raises(stripe.InvalidRequestError):
        _send(stripe_client, cus.id, "1", ts=frozen - 36 * 86400)
    _send(stripe_client, cus.id, "4", ts=frozen - 86400)
    assert _summaries(stripe_client, m.id, cus.id, frozen - 86400, frozen + 60)[0].aggregated_value == 7


@pytest.mark.parametrize(("formula", "expected"), [("sum", 17.5), ("count", 3), ("last", 2.5)])
def test_formulas(stripe_client: stripe.StripeClient, formula: str, expected: float) -> None:
    m = _meter(stripe_client, formula=formula)
    cus, other = stripe_client.v1.customers.create(), stripe_client.v1.customers.create()
    now = int(time.time())
    base = now - now % HOUR - 2 * HOUR
    _send(stripe_client, cus.id, "10", ts=base + 10)
    _send(stripe_client, cus.id, "2.5", ts=base + 3000)  # latest
    _send(stripe_client, cus.id, "5", ts=base + 20)
    _send(stripe_client, other.id, "100", ts=base + 30)
    _send(stripe_client, cus.id, "1000", ts=base + 2 * HOUR)  # outside [start, end)
    (summary,) = _summaries(stripe_client, m.id, cus.id, base, base + HOUR)
    assert summary.aggregated_value == expected
    assert summary.start_time == base and summary.end_time == base + HOUR
    assert summary.meter == m.id and summary.object == "billing.meter_event_summary"


def test_count_needs_no_value(stripe_client: stripe.StripeClient) -> None:
    m = _meter(stripe_client, formula="count")
    cus = stripe_client.v1.customers.create()
    now = int(time.time())
    _send(stripe_client, cus.id, None, ts=now)
    _send(stripe_client, cus.id, None, ts=now)
    start = now - now % 60
    assert _summaries(stripe_client, m.id, cus.id, start, start + 60)[0].aggregated_value == 2


def test_hourly_grouping_newest_first_and_paginated(stripe_client: stripe.StripeClient) -> None:
    m = _meter(stripe_client)
    cus = stripe_client.v1.customers.create()
    now = int(time.time())
    day = now - now % 86400 - 86400
    for hour, value in ((1, "1"), (1, "2"), (3, "4"), (7, "8")):
        _send(stripe_client, cus.id, value, ts=day + hour * HOUR + 5)
    rows = _summaries(stripe_client, m.id, cus.id, day, day + 86400, value_grouping_window="hour")
    assert [(r.start_time - day) // HOUR for r in rows] == [7, 3, 1]
    assert [r.aggregated_value for r in rows] == [8, 4, 3]
    assert all(r.end_time - r.start_time == HOUR for r in rows)
    page = stripe_client.v1.billing.meters.event_summaries.list(
        m.id,
        params={
            "customer": cus.id,
            "start_time": day,
            "end_time": day + 86400,
            "value_grouping_window": "hour",
            "limit": 2,
        },
    )
    assert page.has_more and [r.id for r in page.data] == [r.id for r in rows[:2]]
    nxt = stripe_client.v1.billing.meters.event_summaries.list(
        m.id,
        params={
            "customer": cus.id,
            "start_time": day,
            "end_time": day + 86400,
            "value_grouping_window": "hour",
            "starting_after": page.data[-1].id,
        },
    )
    assert [r.id for r in nxt.data] == [rows[2].id] and not nxt.has_more
    daily = _summaries(stripe_client, m.id, cus.id, day, day + 86400, value_grouping_window="day")
    assert [r.aggregated_value for r in daily] == [15]


def test_summary_validation(stripe_client: stripe.StripeClient) -> None:
    m = _meter(stripe_client)
    cus = stripe_client.v1.customers.create()
    day = 1_767_225_600
    cases = [
        ({"start_time": day + 1, "end_time": day + 3600}, "start_time"),
        ({"start_time": day, "end_time": day}, "end_time"),
        (
            {"start_time": day + 60, "end_time": day + 3600, "value_grouping_window": "hour"},
            "start_time",
        ),
        ({"start_time": day, "end_time": day + 3600, "value_grouping_window": "day"}, "end_time"),
    ]
    for params, param in cases:
        with pytest.raises(stripe.InvalidRequestError) as info:
            stripe_client.v1.billing.meters.event_summaries.list(m.id, params={"customer": cus.id, **params})  # type: ignore[typeddict-item]
        assert info.value.param == param, params
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.billing.meters.event_summaries.list(
            m.id, params={"customer": "cus_nope", "start_time": day, "end_time": day + 60}
        )
    assert info.value.http_status == 404


def test_cancel_adjustment_removes_the_event(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    m = _meter(stripe_client)
    cus = stripe_client.v1.customers.create()
    now = int(time.time())
    _send(stripe_client, cus.id, "5", ts=now, identifier="a")
    _send(stripe_client, cus.id, "6", ts=now, identifier="b")
    adj = stripe_client.v1.billing.meter_event_adjustments.create(
        params={"event_name": "api_calls", "type": "cancel", "cancel": {"identifier": "a"}}
    )
    assert adj.status == "complete" and adj.cancel.identifier == "a"
    start = now - now % 60
    assert _summaries(stripe_client, m.id, cus.id, start, start + 120)[0].aggregated_value == 6
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.billing.meter_event_adjustments.create(
            params={"event_name": "api_calls", "type": "cancel", "cancel": {"identifier": "a"}}
        )
