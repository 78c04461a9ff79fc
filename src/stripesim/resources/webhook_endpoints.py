"""Webhook endpoints: /v1/webhook_endpoints. The secret is shown only at creation."""

from __future__ import annotations

from stripesim import API_VERSION
from stripesim.errors import InvalidRequest
from stripesim.ids import secret
from stripesim.present import paginate
from stripesim.resources._common import apply_metadata, deleted
from stripesim.routes import Ctx, api
from stripesim.shapes import new_record
from stripesim.state import Record, State, pinned_event_types, renderer
from stripesim.wire import Params


def _events(p: Params) -> list[str]:
    events = p.strings("enabled_events")
    if not events:
        raise InvalidRequest(
            "Missing required param: enabled_events.", param="enabled_events", code="parameter_missing"
        )
    for i, event_type in enumerate(events):
        if event_type != "*" and event_type not in pinned_event_types():
            raise InvalidRequest(
                f"Invalid enabled_events[{i}]: {event_type!r} is not an event type of API version {API_VERSION}.",
                param=f"enabled_events[{i}]",
            )
    return events


def _url(p: Params) -> str:
    url = p.str("url", required=True) or ""
    if not (url.startswith("http://") or url.startswith("https://")):
        raise InvalidRequest("Invalid URL: must start with http:// or https://", param="url", code="url_invalid")
    return url


@api("POST", "/v1/webhook_endpoints")
def create_endpoint(ctx: Ctx) -> Record:
    p = ctx.params.only("url", "enabled_events", "description", "metadata", "api_version", "connect")
    record = new_record(
        "webhook_endpoint",
        "we",
        created=ctx.now(),
        url=_url(p),
        enabled_events=_events(p),
        description=p.str("description"),
        status="enabled",
        api_version=p.str("api_version"),
        application=None,
    )
    record["secret"] = secret("whsec")
    # A Connect endpoint: events of connected accounts (Stripe shows no field for it).
    record["_connect"] = bool(p.bool("connect"))
    apply_metadata(record, p)
    ctx.state.insert(record)
    shown = dict(record)
    shown["_show_secret"] = True
    return shown


@renderer("webhook_endpoint")
def render_endpoint(state: State, record: Record) -> Record:
    shown = dict(record)
    if not shown.pop("_show_secret", False):
        shown.pop("secret", None)
    return shown


@api("GET", "/v1/webhook_endpoints/{endpoint}")
def retrieve_endpoint(ctx: Ctx, endpoint: str) -> Record:
    return ctx.state.get(endpoint, "webhook_endpoint")


@api("POST", "/v1/webhook_endpoints/{endpoint}")
def update_endpoint(ctx: Ctx, endpoint: str) -> Record:
    p = ctx.params.only("url", "enabled_events", "description", "metadata", "disabled")
    record = ctx.state.get(endpoint, "webhook_endpoint")
    if p.has("url"):
        record["url"] = _url(p)
    if p.has("enabled_events"):
        record["enabled_events"] = _events(p)
    if p.has("description"):
        record["description"] = p.str("description") or None
    if p.has("disabled"):
        record["status"] = "disabled" if p.bool("disabled") else "enabled"
    apply_metadata(record, p)
    return record


@api("DELETE", "/v1/webhook_endpoints/{endpoint}")
def delete_endpoint(ctx: Ctx, endpoint: str) -> Record:
    record = ctx.state.get(endpoint, "webhook_endpoint")
    ctx.state.remove(record["id"])
    return deleted(record)


@api("GET", "/v1/webhook_endpoints")
def list_endpoints(ctx: Ctx) -> Record:
    p = ctx.params.only("limit", "starting_after", "ending_before")
    return paginate(ctx.state.all("webhook_endpoint"), p, "/v1/webhook_endpoints")
