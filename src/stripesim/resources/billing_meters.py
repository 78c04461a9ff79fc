"""Billing meters (/v1/billing/meters), meter events and event summaries.

Usage-based prices reference a meter; usage arrives as meter events and is aggregated by
the meter's formula (see stripesim.billing.meters).
"""

from __future__ import annotations

from typing import Any

from stripesim.billing import meters as metering
from stripesim.errors import InvalidRequest
from stripesim.present import paginate
from stripesim.routes import Ctx, api, sim
from stripesim.shapes import new_record
from stripesim.state import Record

KIND = "billing.meter"
_WINDOWS = {"hour": 3600, "day": 86400}


@api("POST", "/v1/billing/meters")
def create_meter(ctx: Ctx) -> Record:
    p = ctx.params.only(
        "customer_mapping",
        "default_aggregation",
        "display_name",
        "event_name",
        "event_time_window",
        "value_settings",
    )
    state = ctx.state
    display_name = p.str("display_name", required=True, max_length=250)
    event_name = p.str("event_name", required=True, max_length=100) or ""
    aggregation = p.sub("default_aggregation", required=True)
    assert aggregation is not None
    aggregation.only("formula")
    formula = aggregation.str("formula", required=True, choices=("count", "last", "sum"))
    mapping = {"event_payload_key": "stripe_customer_id", "type": "by_id"}
    sub = p.sub("customer_mapping")
    if sub is not None:
        sub.only("event_payload_key", "type")
        mapping = {
            "event_payload_key": sub.str("event_payload_key", required=True, max_length=100) or "",
            "type": sub.str("type", required=True, choices=("by_id",)) or "by_id",
        }
    value_key = "value"
    sub = p.sub("value_settings")
    if sub is not None:
        sub.only("event_payload_key")
        value_key = sub.str("event_payload_key", required=True, max_length=100) or "value"
    if any(m["status"] == "active" for m in metering.meters_for(state, event_name)):
        raise InvalidRequest(
            f"An active meter with event_name '{event_name}' already exists.",
            param="event_name",
        )
    now = ctx.now()
    record = new_record(
        KIND,
        "mtr",
        created=now,
        updated=now,
        display_name=display_name,
        event_name=event_name,
        status="active",
        status_transitions={"deactivated_at": None},
        customer_mapping=mapping,
        default_aggregation={"formula": formula},
        value_settings={"event_payload_key": value_key},
        event_time_window=p.str("event_time_window", choices=("day", "hour")),
    )
    state.insert(record)
    state.emit("billing.meter.created", record)
    return record


@api("GET", "/v1/billing/meters/{meter}")
def retrieve_meter(ctx: Ctx, meter: str) -> Record:
    ctx.params.only()
    return ctx.state.get(meter, KIND)


@api("POST", "/v1/billing/meters/{meter}")
def update_meter(ctx: Ctx, meter: str) -> Record:
    p = ctx.params.only("display_name")
    record = ctx.state.get(meter, KIND)
    with ctx.state.changing(record):
        if p.has("display_name"):
            record["display_name"] = p.str("display_name", required=True, max_length=250)
            record["updated"] = ctx.now()
    return record


def _set_status(ctx: Ctx, meter: str, status: str) -> Record:
    ctx.params.only()
    state = ctx.state
    record = state.get(meter, KIND)
    if record["status"] == status:
        raise InvalidRequest(f"The meter {meter} is already {status}.", param="id")
    if status == "active" and any(m["status"] == "active" for m in metering.meters_for(state, record["event_name"])):
        raise InvalidRequest(
            f"An active meter with event_name '{record['event_name']}' already exists.",
            param="id",
        )
    now = ctx.now()
    record["status"] = status
    record["status_transitions"] = {"deactivated_at": now if status == "inactive" else None}
    record["updated"] = now
    state.emit("billing.meter.deactivated" if status == "inactive" else "billing.meter.reactivated", record)
    return record


@api("POST", "/v1/billing/meters/{meter}/deactivate")
def deactivate_meter(ctx: Ctx, meter: str) -> Record:
    return _set_status(ctx, meter, "inactive")


@api("POST", "/v1/billing/meters/{meter}/reactivate")
def reactivate_meter(ctx: Ctx, meter: str) -> Record:
    return _set_status(ctx, meter, "active")


@api("GET", "/v1/billing/meters")
def list_meters(ctx: Ctx) -> Record:
    p = ctx.params.only("status", "limit", "starting_after", "ending_before")
    status = p.str("status", choices=("active", "inactive"))
    records = [m for m in ctx.state.all(KIND) if status is None or m["status"] == status]
    return paginate(records, p, "/v1/billing/meters")


@api("POST", "/v1/billing/meter_events")
def create_meter_event(ctx: Ctx) -> dict[str, Any]:
    p = ctx.params.only("event_name", "identifier", "payload", "timestamp")
    event_name = p.str("event_name", required=True, max_length=100) or ""
    payload = p.sub("payload", required=True)
    assert payload is not None
    values = {str(k): str(v) for k, v in payload.data.items() if not isinstance(v, dict | list)}
    if len(values) != len(payload.data):
        raise InvalidRequest("Invalid payload: values must be strings.", param="payload")
    return metering.record_event(
        ctx.state,
        event_name=event_name,
        payload=values,
        identifier=p.str("identifier", max_length=100),
        timestamp=p.int("timestamp"),
    )


@api("POST", "/v1/billing/meter_event_adjustments")
def create_adjustment(ctx: Ctx) -> dict[str, Any]:
    p = ctx.params.only("event_name", "type", "cancel")
    event_name = p.str("event_name", required=True, max_length=100) or ""
    p.str("type", required=True, choices=("cancel",))
    cancel = p.sub("cancel", required=True)
    assert cancel is not None
    cancel.only("identifier")
    identifier = cancel.str("identifier", required=True) or ""
    if not metering.cancel_event(ctx.state, event_name, identifier):
        raise InvalidRequest(
            f"No meter event with identifier {identifier} for event_name '{event_name}'.",
            param="cancel[identifier]",
        )
    return {
        "object": "billing.meter_event_adjustment",
        "cancel": {"identifier": identifier},
        "event_name": event_name,
        "livemode": False,
        "status": "complete",
        "type": "cancel",
    }


@api("GET", "/v1/billing/meters/{meter}/event_summaries")
def list_event_summaries(ctx: Ctx, meter: str) -> Record:
    p = ctx.params.only(
        "customer",
        "start_time",
        "end_time",
        "value_grouping_window",
        "limit",
        "starting_after",
        "ending_before",
    )
    state = ctx.state
    record = state.get(meter, KIND)
    customer = p.str("customer", required=True) or ""
    state.get(customer, "customer", "customer")
    start = p.int("start_time", required=True) or 0
    end = p.int("end_time", required=True) or 0
    for key, value in (("start_time", start), ("end_time", end)):
        if value % 60:
            raise InvalidRequest(f"Invalid {key}: must be aligned with minute boundaries.", param=key)
    if end <= start:
        raise InvalidRequest("end_time must be after start_time.", param="end_time")
    grouping = p.str("value_grouping_window", choices=tuple(_WINDOWS))
    window = _WINDOWS[grouping] if grouping else None
    if window is not None:
        for key, value in (("start_time", start), ("end_time", end)):
            if value % window:
                raise InvalidRequest(
                    f"Invalid {key}: with value_grouping_window={grouping} it must be aligned "
                    f"with {grouping} boundaries (UTC).",
                    param=key,
                )
    data = metering.summaries(state, record, customer, start, end, window)
    return paginate(data, p, f"/v1/billing/meters/{meter}/event_summaries")


@sim("POST", "/_sim/billing/meter_events/age")
def age_meter_events(ctx: Ctx) -> dict[str, Any]:
    """Make every meter event received so far `seconds` older (default a day): its identifier's
    24 hours and the 24 hours to cancel it pass at once."""
    seconds = ctx.params.float("seconds", default=24 * 3600.0) or 0.0
    return {"aged": metering.age_events(ctx.state, seconds)}
