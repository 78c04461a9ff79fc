"""Meter events and their aggregation, for event summaries and usage-based invoices.

Events live in `state.extras` (persisted as JSON), grouped by event name and then by the
value of the payload's customer key, so aggregating one customer's usage only scans that
customer's events:

    extras["meter_events"][event_name][customer_value] = [[timestamp, value_str, identifier], …]
    extras["meter_event_identifiers"][identifier] = wall-clock time it was first seen

The customer key is the one meters for the event name map by (`stripe_customer_id` by
default); events are grouped by it when they arrive.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from stripesim.errors import InvalidRequest
from stripesim.state import Record, State

IDENTIFIER_WINDOW_S = 24 * 3600  # Stripe enforces identifier uniqueness for at least 24 h
PAST_LIMIT_S = 35 * 24 * 3600
FUTURE_LIMIT_S = 5 * 60


def _events(state: State) -> dict[str, dict[str, list[list[Any]]]]:
    return state.extras.setdefault("meter_events", {})


def _identifiers(state: State) -> dict[str, float]:
    return state.extras.setdefault("meter_event_identifiers", {})


def meters_for(state: State, event_name: str) -> list[Record]:
    return [m for m in state.all("billing.meter") if m["event_name"] == event_name]


def parse_value(raw: Any) -> Decimal | None:
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def record_event(
    state: State,
    *,
    event_name: str,
    payload: dict[str, str],
    identifier: str | None,
    timestamp: int | None,
) -> dict[str, Any]:
    """Validate and store one meter event; returns the `billing.meter_event` object."""
    meters = [m for m in meters_for(state, event_name) if m["status"] == "active"]
    if not meters:
        raise InvalidRequest(f"No active meter was found for event_name '{event_name}'.", param="event_name")
    meter = meters[0]
    customer_key = meter["customer_mapping"]["event_payload_key"]
    value_key = meter["value_settings"]["event_payload_key"]
    customer_id = payload.get(customer_key)
    if not customer_id:
        raise InvalidRequest(
            f"Missing required payload key '{customer_key}' (the meter's customer mapping).",
            param=f"payload[{customer_key}]",
        )
    customer = state.find(customer_id, "customer")
    if customer is None or customer.get("deleted"):
        raise InvalidRequest(
            f"No such customer: '{customer_id}'",
            param=f"payload[{customer_key}]",
            code="resource_missing",
        )
    raw_value = payload.get(value_key)
    if meter["default_aggregation"]["formula"] != "count" or raw_value is not None:
        if raw_value is None:
            raise InvalidRequest(
                f"Missing required payload key '{value_key}' (the meter's value setting).",
                param=f"payload[{value_key}]",
            )
        if parse_value(raw_value) is None:
            raise InvalidRequest(
                f"Invalid meter event value {raw_value!r}: must be a number.",
                param=f"payload[{value_key}]",
            )
    now = state.now_for(customer)
    if timestamp is None:
        timestamp = now
    elif timestamp < now - PAST_LIMIT_S or timestamp > now + FUTURE_LIMIT_S:
        raise InvalidRequest(
            "Invalid timestamp: must be within the past 35 calendar days or up to 5 minutes in the future.",
            param="timestamp",
        )
    identifiers = _identifiers(state)
    wall = time.time()
    if identifier:
        seen = identifiers.get(identifier)
        if seen is not None and wall - seen < IDENTIFIER_WINDOW_S:
            raise InvalidRequest(f"An event already exists with identifier {identifier}.", param="identifier")
    else:
        from stripesim.ids import new_id

        identifier = new_id("mev")[4:]
    identifiers[identifier] = wall
    _prune(identifiers, wall)
    by_customer = _events(state).setdefault(event_name, {})
    by_customer.setdefault(customer_id, []).append([timestamp, raw_value, identifier])
    return {
        "object": "billing.meter_event",
        "created": now,
        "event_name": event_name,
        "identifier": identifier,
        "livemode": False,
        "payload": dict(payload),
        "timestamp": timestamp,
    }


def _prune(identifiers: dict[str, float], wall: float) -> None:
    # Keep the map from growing without bound: drop identifiers past the window, now and then.
    if len(identifiers) % 1024 == 0:
        for key in [k for k, t in identifiers.items() if wall - t >= IDENTIFIER_WINDOW_S]:
            del identifiers[key]


def cancel_event(state: State, event_name: str, identifier: str) -> bool:
    """Remove an event (a meter event adjustment of type cancel). Returns whether it existed."""
    for events in _events(state).get(event_name, {}).values():
        for i, event in enumerate(events):
            if event[2] == identifier:
                del events[i]
                return True
    return False


def customer_events(state: State, meter: Record, customer_id: str) -> list[list[Any]]:
    return _events(state).get(meter["event_name"], {}).get(customer_id, [])


def aggregate(formula: str, events: Iterable[list[Any]]) -> Decimal:
    """Aggregate events ([timestamp, value, identifier]) by a meter's formula."""
    if formula == "count":
        return Decimal(sum(1 for _ in events))
    if formula == "last":
        latest: list[Any] | None = None
        for event in events:
            if latest is None or event[0] >= latest[0]:
                latest = event
        return (parse_value(latest[1]) or Decimal(0)) if latest is not None else Decimal(0)
    total = Decimal(0)
    for event in events:
        total += parse_value(event[1]) or Decimal(0)
    return total


def usage_for(state: State, meter_id: str, customer_id: str, start: int, end: int) -> Decimal:
    """A customer's usage on a meter over [start, end), by the meter's formula."""
    meter = state.get(meter_id, "billing.meter", "meter")
    events = customer_events(state, meter, customer_id)
    return aggregate(meter["default_aggregation"]["formula"], (e for e in events if start <= e[0] < end))


def summaries(
    state: State, meter: Record, customer_id: str, start: int, end: int, window: int | None
) -> list[dict[str, Any]]:
    """Event summaries, newest first: one for [start, end), or one per window with events."""
    formula = meter["default_aggregation"]["formula"]
    events = [e for e in customer_events(state, meter, customer_id) if start <= e[0] < end]
    if window is None:
        spans = [(start, end, events)]
    else:
        buckets: dict[int, list[list[Any]]] = {}
        for event in events:
            bucket = start + (event[0] - start) // window * window
            buckets.setdefault(bucket, []).append(event)
        spans = [(b, min(b + window, end), buckets[b]) for b in sorted(buckets)]
    out = []
    for span_start, span_end, span_events in reversed(spans):
        value = aggregate(formula, span_events)
        out.append(
            {
                # Deterministic ids, so starting_after/ending_before work across requests.
                "id": f"mtrusg_{meter['id']}_{customer_id}_{span_start}_{span_end}",
                "object": "billing.meter_event_summary",
                "aggregated_value": float(value),
                "end_time": span_end,
                "livemode": False,
                "meter": meter["id"],
                "start_time": span_start,
            }
        )
    return out
