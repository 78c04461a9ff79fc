"""Meter events and their aggregation, for event summaries and usage-based invoices.

Events live in `state.extras` (persisted as JSON), grouped by event name and then by the
value of the payload's customer key, so aggregating one customer's usage only scans that
customer's events:

    extras["meter_events"][event_name][customer_value] = [[timestamp, value_str, identifier], …]
    extras["meter_event_identifiers"][identifier] = wall-clock time it was first seen

The customer key is the one meters for the event name map by (`stripe_customer_id` by
default); events are grouped by it when they arrive.

Two ways in, as on Stripe: `/v1/billing/meter_events` checks an event while the request
waits and refuses a bad one (`record_event`); the v2 meter event stream takes up to 100 events
a request, answers at once and checks them afterwards (`record_streamed`): an event it refuses
is reported in a thin event (`v1.billing.meter.error_report_triggered` for a meter's events,
`v1.billing.meter.no_meter_found` when no meter takes the event name), never in the answer.
Both drop an identifier seen within 24 hours: v1 refuses it, the stream drops it silently.
A meter event adjustment cancels an event within 24 hours of its arrival.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from stripesim.errors import InvalidRequest
from stripesim.ids import new_id
from stripesim.state import Record, State

IDENTIFIER_WINDOW_S = 24 * 3600  # Stripe enforces identifier uniqueness for at least 24 h
CANCEL_WINDOW_S = 24 * 3600  # an event can be cancelled within 24 h of Stripe receiving it
PAST_LIMIT_S = 35 * 24 * 3600
FUTURE_LIMIT_S = 5 * 60
MAX_VALUE_DIGITS = 15
SAMPLES_PER_CODE = 10  # sample errors a report shows per error code


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


class Refused(Exception):
    """An event Stripe does not take: `code` is the error report's (`no_meter`,
    `meter_event_customer_not_found`, …), `param` the v1 request's parameter at fault."""

    def __init__(self, code: str, message: str, param: str, meter: Record | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param
        self.meter = meter


@dataclass(frozen=True)
class Checked:
    meter: Record
    customer_id: str
    raw_value: Any
    timestamp: int
    now: int


def check_event(state: State, *, event_name: str, payload: dict[str, str], timestamp: int | None) -> Checked:
    """What Stripe checks of one event before it counts it; `Refused` says why not."""
    named = meters_for(state, event_name)
    meters = [m for m in named if m["status"] == "active"]
    if not meters:
        code = "archived_meter" if named else "no_meter"
        raise Refused(
            code, f"No active meter was found for event_name '{event_name}'.", "event_name", named[0] if named else None
        )
    meter = meters[0]
    customer_key = meter["customer_mapping"]["event_payload_key"]
    value_key = meter["value_settings"]["event_payload_key"]
    customer_id = payload.get(customer_key)
    if not customer_id:
        raise Refused(
            "meter_event_no_customer_defined",
            f"Missing required payload key '{customer_key}' (the meter's customer mapping).",
            f"payload[{customer_key}]",
            meter,
        )
    customer = state.find(customer_id, "customer")
    if customer is None or customer.get("deleted"):
        raise Refused(
            "meter_event_customer_not_found", f"No such customer: '{customer_id}'", f"payload[{customer_key}]", meter
        )
    raw_value = payload.get(value_key)
    if meter["default_aggregation"]["formula"] != "count" or raw_value is not None:
        if raw_value is None:
            raise Refused(
                "missing_dimension_payload_keys",
                f"Missing required payload key '{value_key}' (the meter's value setting).",
                f"payload[{value_key}]",
                meter,
            )
        parsed = parse_value(raw_value)
        if parsed is None:
            raise Refused(
                "meter_event_invalid_value",
                f"Invalid meter event value {raw_value!r}: must be a number.",
                f"payload[{value_key}]",
                meter,
            )
        if len(parsed.as_tuple().digits) > MAX_VALUE_DIGITS:
            raise Refused(
                "meter_event_value_too_many_digits",
                f"Invalid meter event value {raw_value!r}: at most {MAX_VALUE_DIGITS} digits.",
                f"payload[{value_key}]",
                meter,
            )
    now = state.now_for(customer)
    if timestamp is None:
        timestamp = now
    elif timestamp < now - PAST_LIMIT_S:
        raise Refused("timestamp_too_far_in_past", _WINDOW_MESSAGE, "timestamp", meter)
    elif timestamp > now + FUTURE_LIMIT_S:
        raise Refused("timestamp_in_future", _WINDOW_MESSAGE, "timestamp", meter)
    return Checked(meter, customer_id, raw_value, timestamp, now)


_WINDOW_MESSAGE = "Invalid timestamp: must be within the past 35 calendar days or up to 5 minutes in the future."


def seen_recently(state: State, identifier: str, wall: float) -> bool:
    seen = _identifiers(state).get(identifier)
    return seen is not None and wall - seen < IDENTIFIER_WINDOW_S


def _store(state: State, event_name: str, checked: Checked, identifier: str, wall: float) -> None:
    identifiers = _identifiers(state)
    identifiers[identifier] = wall
    _prune(identifiers, wall)
    by_customer = _events(state).setdefault(event_name, {})
    by_customer.setdefault(checked.customer_id, []).append([checked.timestamp, checked.raw_value, identifier])


def record_event(
    state: State,
    *,
    event_name: str,
    payload: dict[str, str],
    identifier: str | None,
    timestamp: int | None,
) -> dict[str, Any]:
    """Validate and store one meter event (v1); returns the `billing.meter_event` object."""
    try:
        checked = check_event(state, event_name=event_name, payload=payload, timestamp=timestamp)
    except Refused as refused:
        code = "resource_missing" if refused.code == "meter_event_customer_not_found" else None
        raise InvalidRequest(refused.message, param=refused.param, code=code) from None
    wall = time.time()
    if identifier:
        if seen_recently(state, identifier, wall):
            raise InvalidRequest(f"An event already exists with identifier {identifier}.", param="identifier")
    else:
        identifier = new_id("mev")[4:]
    _store(state, event_name, checked, identifier, wall)
    return {
        "object": "billing.meter_event",
        "created": checked.now,
        "event_name": event_name,
        "identifier": identifier,
        "livemode": False,
        "payload": dict(payload),
        "timestamp": checked.timestamp,
    }


@dataclass(frozen=True)
class StreamedEvent:
    event_name: str
    payload: dict[str, str]
    identifier: str | None
    timestamp: int | None


def record_streamed(state: State, events: Iterable[StreamedEvent]) -> list[tuple[str, Refused]]:
    """Store a stream request's events, as the stream does after answering: a repeated
    identifier is dropped, an event Stripe refuses is left out and returned with why (with the
    identifier it came with, or the one it was given)."""
    refused: list[tuple[str, Refused]] = []
    wall = time.time()
    for event in events:
        identifier = event.identifier or new_id("mev")[4:]
        try:
            checked = check_event(state, event_name=event.event_name, payload=event.payload, timestamp=event.timestamp)
        except Refused as why:
            refused.append((identifier, why))
            continue
        if seen_recently(state, identifier, wall):
            continue
        _store(state, event.event_name, checked, identifier, wall)
    return refused


def _prune(identifiers: dict[str, float], wall: float) -> None:
    # Keep the map from growing without bound: drop identifiers past the window, now and then.
    if len(identifiers) % 1024 == 0:
        for key in [k for k, t in identifiers.items() if wall - t >= IDENTIFIER_WINDOW_S]:
            del identifiers[key]


def cancel_event(state: State, event_name: str, identifier: str) -> bool:
    """Remove an event (a meter event adjustment of type cancel). Returns whether it existed;
    `InvalidRequest` once the 24 hours for cancelling it are over."""
    for events in _events(state).get(event_name, {}).values():
        for i, event in enumerate(events):
            if event[2] == identifier:
                received = _identifiers(state).get(identifier)
                if received is None or time.time() - received >= CANCEL_WINDOW_S:
                    raise InvalidRequest(
                        f"The meter event with identifier {identifier} can no longer be cancelled: events can "
                        "be cancelled within 24 hours of being received.",
                        param="cancel[identifier]",
                    )
                del events[i]
                return True
    return False


def age_events(state: State, seconds: float) -> int:
    """Make every event received look `seconds` older (a simulator control, for the 24-hour
    windows). Returns how many identifiers it moved."""
    identifiers = _identifiers(state)
    for key in identifiers:
        identifiers[key] -= seconds
    return len(identifiers)


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


def iso(unix: float) -> str:
    """A v2 API time: ISO 8601 in UTC with milliseconds."""
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(raw: str) -> float:
    """Unix seconds of a v2 API time (ISO 8601); a time without a zone is UTC."""
    parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _thin_events(state: State) -> list[dict[str, Any]]:
    return state.extras.setdefault("v2_events", [])


def report_refusals(state: State, refused: list[tuple[str, Refused]], started: float) -> list[dict[str, Any]]:
    """The thin events for a stream request's refused events: one
    `v1.billing.meter.error_report_triggered` per meter whose events were refused (related to
    the meter), one `v1.billing.meter.no_meter_found` for event names no meter takes. Each
    counts the errors by code with a few samples naming the events' identifiers."""
    groups: dict[str | None, list[tuple[str, Refused]]] = {}
    for identifier, why in refused:
        groups.setdefault(why.meter["id"] if why.meter else None, []).append((identifier, why))
    made = []
    now = time.time()
    for meter_id, errors in groups.items():
        by_code: dict[str, list[tuple[str, Refused]]] = {}
        for identifier, why in errors:
            by_code.setdefault(why.code, []).append((identifier, why))
        codes = ", ".join(f"{len(found)} {code}" for code, found in by_code.items())
        event: dict[str, Any] = {
            "id": new_id("evt"),
            "object": "v2.core.event",
            "created": iso(now),
            "livemode": False,
            "type": "v1.billing.meter.error_report_triggered" if meter_id else "v1.billing.meter.no_meter_found",
            "data": {
                "developer_message_summary": f"{len(errors)} meter event(s) could not be processed: {codes}.",
                "reason": {
                    "error_count": len(errors),
                    "error_types": [
                        {
                            "code": code,
                            "error_count": len(found),
                            "sample_errors": [
                                {"error_message": why.message, "request": {"identifier": identifier}}
                                for identifier, why in found[:SAMPLES_PER_CODE]
                            ],
                        }
                        for code, found in by_code.items()
                    ],
                },
                "validation_end": iso(now),
                "validation_start": iso(started),
            },
        }
        if meter_id:
            event["related_object"] = {"id": meter_id, "type": "billing.meter", "url": f"/v1/billing/meters/{meter_id}"}
        _thin_events(state).append(event)
        made.append(event)
    return made


def thin_events(state: State) -> list[dict[str, Any]]:
    """Every thin event, newest first."""
    return list(reversed(_thin_events(state)))
