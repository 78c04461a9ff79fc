"""Events: /v1/events, kept for 30 days of clock time."""

from __future__ import annotations

from stripesim.present import Keep, list_page
from stripesim.resources._common import created_bounds, created_match, every
from stripesim.routes import Ctx, api
from stripesim.state import Record, State


def _live(state: State, event: Record) -> bool:
    age = state.now(event.get("_clock")) - event["created"]
    return age <= state.config.events_kept_s


def _on_account(ctx: Ctx, event: Record) -> bool:
    """An event is listed on the account it happened on: a connected account's with its
    `Stripe-Account` header, the platform's without."""
    return event.get("account") == ctx.stripe_account


@api("GET", "/v1/events/{event}")
def retrieve_event(ctx: Ctx, event: str) -> Record:
    record = ctx.state.get(event, "event")
    if not _live(ctx.state, record) or not _on_account(ctx, record):
        ctx.state.get("", "event")
    return record


@api("GET", "/v1/events")
def list_events(ctx: Ctx) -> Record:
    p = ctx.params.only("type", "types", "created", "delivery_success", "limit", "starting_after", "ending_before")
    wanted = p.str("type")
    types = p.strings("types")
    success = p.bool("delivery_success") if p.has("delivery_success") else None
    keep = every(
        lambda e: _live(ctx.state, e) and _on_account(ctx, e),
        _type_match(wanted),
        (lambda e: e["type"] in types) if types else None,
        None if not p.has("delivery_success") else lambda e: (e["pending_webhooks"] == 0) == success,
        created_match(p),
    )
    bounds = created_bounds(p)
    among = None if bounds is None else ctx.state.created_between("event", *bounds)
    return list_page(ctx.state, "event", p, "/v1/events", keep, among=among)


def _type_match(wanted: str | None) -> Keep | None:
    """`type`: one event type, or every type under a prefix (`customer.*`)."""
    if not wanted:
        return None
    if wanted.endswith(".*"):
        return lambda e: bool(e["type"].startswith(wanted[:-1]))
    return lambda e: e["type"] == wanted
