"""Events: /v1/events, kept for 30 days of clock time."""

from __future__ import annotations

from stripesim.present import paginate
from stripesim.resources._common import created_filter
from stripesim.routes import Ctx, api
from stripesim.state import Record, State


def _live(state: State, event: Record) -> bool:
    age = state.now(event.get("_clock")) - event["created"]
    return age <= state.config.events_kept_s


@api("GET", "/v1/events/{event}")
def retrieve_event(ctx: Ctx, event: str) -> Record:
    record = ctx.state.get(event, "event")
    if not _live(ctx.state, record):
        ctx.state.get("", "event")
    return record


@api("GET", "/v1/events")
def list_events(ctx: Ctx) -> Record:
    p = ctx.params.only("type", "types", "created", "delivery_success", "limit", "starting_after", "ending_before")
    records = [e for e in ctx.state.all("event") if _live(ctx.state, e)]
    wanted = p.str("type")
    if wanted:
        if wanted.endswith(".*"):
            records = [e for e in records if e["type"].startswith(wanted[:-1])]
        else:
            records = [e for e in records if e["type"] == wanted]
    types = p.strings("types")
    if types:
        records = [e for e in records if e["type"] in types]
    if p.has("delivery_success"):
        success = p.bool("delivery_success")
        records = [e for e in records if (e["pending_webhooks"] == 0) == success]
    return paginate(created_filter(p, records), p, "/v1/events")
