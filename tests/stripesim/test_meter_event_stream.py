"""The v2 meter event stream, thin error reports and meter event adjustments, through the SDK.

The stream answers before it checks: a refused event comes back as a thin event
(`v1.billing.meter.error_report_triggered` for a meter, `v1.billing.meter.no_meter_found`
otherwise), listed by `client.v2.core.events`; a repeated identifier is dropped silently.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
import stripe

from tests.support.stripesim import TEST_KEY, Sim

ERROR_TYPES = ["v1.billing.meter.error_report_triggered", "v1.billing.meter.no_meter_found"]


def _client(sim: Sim) -> stripe.StripeClient:
    return stripe.StripeClient(
        TEST_KEY, base_addresses={"api": sim.url, "meter_events": sim.url}, max_network_retries=0
    )


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")


def _meter(client: stripe.StripeClient, name: str = "api_calls") -> Any:
    return client.v1.billing.meters.create(
        params={"display_name": name, "event_name": name, "default_aggregation": {"formula": "sum"}}
    )


def _stream(client: stripe.StripeClient, token: str, events: list[dict[str, Any]]) -> None:
    client.v2.billing.meter_event_stream.create(params={"events": events}, options={"api_key": token})  # type: ignore[typeddict-item]


def _event(identifier: str, customer: str, value: str, event_name: str = "api_calls", **extra: Any) -> dict[str, Any]:
    return {
        "event_name": event_name,
        "identifier": identifier,
        "payload": {"stripe_customer_id": customer, "value": value},
        **extra,
    }


def _total(client: stripe.StripeClient, meter: str, customer: str, around: int) -> float:
    start = around - around % 60 - 3600
    page = client.v1.billing.meters.event_summaries.list(
        meter, params={"customer": customer, "start_time": start, "end_time": start + 7200}
    )
    return float(page.data[0].aggregated_value)


def test_a_session_lasts_15_minutes_and_the_stream_needs_one(sim: Sim) -> None:
    client = _client(sim)
    session = client.v2.billing.meter_event_session.create()
    assert session.object == "v2.billing.meter_event_session" and session.authentication_token.startswith("mes_")
    created = datetime.fromisoformat(session.created.replace("Z", "+00:00"))
    expires = datetime.fromisoformat(session.expires_at.replace("Z", "+00:00"))
    assert (expires - created).total_seconds() == 15 * 60
    event = {"event_name": "api_calls", "payload": {"stripe_customer_id": "cus_x", "value": "1"}}
    with pytest.raises(stripe.TemporarySessionExpiredError) as info:
        _stream(client, "mes_not_a_session_token_at_all", [event])
    assert info.value.http_status == 401
    with pytest.raises(stripe.StripeError) as secret_key:
        _stream(client, TEST_KEY, [event])  # a secret key is not a session token
    assert secret_key.value.http_status == 401
    with pytest.raises(stripe.InvalidRequestError) as too_many:
        _stream(client, session.authentication_token, [event] * 101)
    assert too_many.value.http_status == 400


def test_the_stream_counts_each_identifier_once_with_v1(sim: Sim) -> None:
    client = _client(sim)
    meter = _meter(client)
    customer = client.v1.customers.create()
    now = int(time.time())
    client.v1.billing.meter_events.create(
        params={
            "event_name": "api_calls",
            "identifier": "v1-first",
            "timestamp": now,
            "payload": {"stripe_customer_id": customer.id, "value": "7"},
        }
    )
    token = client.v2.billing.meter_event_session.create().authentication_token
    batch = [
        {
            "event_name": "api_calls",
            "identifier": f"s-{i}",
            "timestamp": _iso(now),
            "payload": {"stripe_customer_id": customer.id, "value": "10"},
        }
        for i in range(100)
    ]
    _stream(client, token, batch)
    _stream(client, token, batch)  # a whole resend: every identifier already seen
    _stream(
        client,
        token,
        [_event("v1-first", customer.id, "7")],
    )
    assert _total(client, meter.id, customer.id, now) == 7 + 100 * 10
    with pytest.raises(stripe.InvalidRequestError) as info:  # and v1 refuses what the stream took
        client.v1.billing.meter_events.create(
            params=_event("s-3", customer.id, "1")  # type: ignore[arg-type]
        )
    assert info.value.param == "identifier"
    assert list(client.v2.core.events.list(params={"types": ERROR_TYPES}).data) == []


def test_refused_events_come_back_as_thin_events(sim: Sim) -> None:
    client = _client(sim)
    meter = _meter(client)
    customer = client.v1.customers.create()
    now = time.time()
    token = client.v2.billing.meter_event_session.create().authentication_token
    _stream(
        client,
        token,
        [
            _event("ok", customer.id, "2"),
            _event("nobody", "cus_gone", "2"),
            _event("bad", customer.id, "x"),
            _event("old", customer.id, "2", timestamp=_iso(now - 40 * 86400)),
            {"event_name": "no_such_meter", "identifier": "lost", "payload": {"stripe_customer_id": customer.id}},
        ],
    )
    assert _total(client, meter.id, customer.id, int(now)) == 2
    found = {e.type: e for e in client.v2.core.events.list(params={"types": ERROR_TYPES}).data}
    report = found["v1.billing.meter.error_report_triggered"]
    assert isinstance(report, stripe.events.V1BillingMeterErrorReportTriggeredEvent)
    assert report.related_object.id == meter.id and report.related_object.url == f"/v1/billing/meters/{meter.id}"
    assert report.data.reason.error_count == 3
    samples = {t.code: [s.request.identifier for s in t.sample_errors] for t in report.data.reason.error_types}
    assert samples == {
        "meter_event_customer_not_found": ["nobody"],
        "meter_event_invalid_value": ["bad"],
        "timestamp_too_far_in_past": ["old"],
    }
    lost = found["v1.billing.meter.no_meter_found"]
    assert [t.code for t in lost.data.reason.error_types] == ["no_meter"]
    assert lost.data.reason.error_types[0].sample_errors[0].request.identifier == "lost"
    assert client.v2.core.events.retrieve(report.id).id == report.id
    by_meter = client.v2.core.events.list(params={"object_id": meter.id})
    assert [e.id for e in by_meter.data] == [report.id]
    later = client.v2.core.events.list(params={"created": {"gt": report.created}})
    assert report.id not in [e.id for e in later.data]
    paged = client.v2.core.events.list(params={"limit": 1})
    assert paged.next_page_url and len(list(paged.auto_paging_iter())) == 2


def test_cancelling_an_event_within_24_hours_and_not_after(sim: Sim) -> None:
    client = _client(sim)
    meter = _meter(client)
    customer = client.v1.customers.create()
    now = int(time.time())
    for identifier, value in (("keep", "5"), ("drop", "6"), ("late", "7")):
        client.v1.billing.meter_events.create(
            params={
                "event_name": "api_calls",
                "identifier": identifier,
                "timestamp": now,
                "payload": {"stripe_customer_id": customer.id, "value": value},
            }
        )
    adjustment = client.v1.billing.meter_event_adjustments.create(
        params={"event_name": "api_calls", "type": "cancel", "cancel": {"identifier": "drop"}}
    )
    assert adjustment.status == "complete"
    sim.control("billing/meter_events/age", {"seconds": 24 * 3600 + 1})
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.billing.meter_event_adjustments.create(
            params={"event_name": "api_calls", "type": "cancel", "cancel": {"identifier": "late"}}
        )
    assert "24 hours" in str(info.value.user_message)
    assert _total(client, meter.id, customer.id, now) == 5 + 7
