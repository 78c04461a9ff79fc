"""Thin events: `/v2/core/events` (list, retrieve), as the v2 API serves them.

stripesim makes them for meter event errors only (`v1.billing.meter.error_report_triggered`,
`v1.billing.meter.no_meter_found`; see stripesim.billing.meters). A list is newest first,
filtered by `types`, `object_id` (the related object) and `created` (ISO 8601 times), and
pages through `next_page_url`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from stripesim.billing import meters as metering
from stripesim.errors import InvalidRequest, NotFound
from stripesim.routes import Ctx, v2

PATH = "/v2/core/events"


@v2("GET", PATH)
def list_events(ctx: Ctx) -> dict[str, Any]:
    p = ctx.params.only("types", "object_id", "created", "limit", "page")
    limit = p.int("limit", minimum=1, maximum=100, default=20) or 20
    types = p.strings("types") if p.has("types") else []
    object_id = p.str("object_id")
    bounds = p.sub("created")
    found = metering.thin_events(ctx.state)
    if types:
        found = [e for e in found if e["type"] in types]
    if object_id:
        found = [e for e in found if (e.get("related_object") or {}).get("id") == object_id]
    if bounds is not None:
        bounds.only("gt", "gte", "lt", "lte")
        for op in ("gt", "gte", "lt", "lte"):
            if bounds.has(op):
                found = [e for e in found if _compare(e["created"], op, _time(bounds, op))]
    start = 0
    page = p.str("page")
    if page:
        if not page.isdigit():
            raise InvalidRequest("Invalid page token.", param="page")
        start = int(page)
    window = found[start : start + limit]
    more = start + limit < len(found)
    query = {k: v for k, v in ctx.params.data.items() if k != "page"}
    next_url = f"{PATH}?{urlencode({**_flat(query), 'page': start + limit})}" if more else None
    return {"data": window, "next_page_url": next_url, "previous_page_url": None}


@v2("GET", PATH + "/{event_id}")
def retrieve_event(ctx: Ctx, event_id: str) -> dict[str, Any]:
    ctx.params.only()
    for event in metering.thin_events(ctx.state):
        if event["id"] == event_id:
            return event
    raise NotFound(f"No such event: '{event_id}'")


def _time(bounds: Any, op: str) -> float:
    raw = bounds.raw(op)
    try:
        return metering.parse_iso(str(raw))
    except ValueError:
        raise InvalidRequest(f"Invalid created[{op}]: an ISO 8601 time.", param=f"created[{op}]") from None


def _compare(created: str, op: str, bound: float) -> bool:
    at = metering.parse_iso(created)
    return {"gt": at > bound, "gte": at >= bound, "lt": at < bound, "lte": at <= bound}[op]


def _flat(query: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in query.items():
        if isinstance(value, dict):
            for sub, inner in value.items():
                out[f"{key}[{sub}]"] = inner
        elif isinstance(value, list):
            for i, inner in enumerate(value):
                out[f"{key}[{i}]"] = inner
        else:
            out[key] = value
    return out
