"""Prices: /v1/prices."""

from __future__ import annotations

from stripesim.errors import InvalidRequest
from stripesim.present import Keep, list_page
from stripesim.resources import _catalog
from stripesim.resources._common import apply_metadata, created_match, equal_match, every
from stripesim.resources._search import search
from stripesim.routes import Ctx, api
from stripesim.state import Record, State, renderer
from stripesim.wire import Params

_CREATE_FIELDS = (
    "currency",
    "product",
    "product_data",
    "unit_amount",
    "unit_amount_decimal",
    "recurring",
    "billing_scheme",
    "tiers",
    "tiers_mode",
    "lookup_key",
    "transfer_lookup_key",
    "nickname",
    "metadata",
    "active",
    "tax_behavior",
    "transform_quantity",
    "custom_unit_amount",
    "currency_options",
)


@api("POST", "/v1/prices")
def create_price(ctx: Ctx) -> Record:
    return _catalog.create_price(ctx.state, ctx.params.only(*_CREATE_FIELDS))


@api("GET", "/v1/prices/{price}")
def retrieve_price(ctx: Ctx, price: str) -> Record:
    return ctx.state.get(price, "price")


@api("POST", "/v1/prices/{price}")
def update_price(ctx: Ctx, price: str) -> Record:
    p = ctx.params.only(
        "active", "lookup_key", "transfer_lookup_key", "metadata", "nickname", "tax_behavior", "currency_options"
    )
    record = ctx.state.get(price, "price")
    if p.has("unit_amount") or p.has("currency"):
        raise InvalidRequest("Prices are immutable: create a new price instead.", param="unit_amount")
    with ctx.state.changing(record):
        if p.has("active"):
            record["active"] = p.bool("active")
        if p.has("nickname"):
            record["nickname"] = p.str("nickname") or None
        if p.has("tax_behavior"):
            if record["tax_behavior"] not in ("unspecified", None):
                raise InvalidRequest("tax_behavior cannot be changed once it is set.", param="tax_behavior")
            record["tax_behavior"] = p.str("tax_behavior", choices=("inclusive", "exclusive", "unspecified"))
        if p.has("lookup_key"):
            _catalog.claim_lookup_key(
                ctx.state, record, p.str("lookup_key"), bool(p.bool("transfer_lookup_key")), "lookup_key"
            )
        apply_metadata(record, p)
    return record


@api("GET", "/v1/prices")
def list_prices(ctx: Ctx) -> Record:
    p = ctx.params.only(
        "active",
        "currency",
        "product",
        "type",
        "lookup_keys",
        "recurring",
        "limit",
        "starting_after",
        "ending_before",
        "created",
    )
    active = p.bool("active")
    equal = equal_match(p, "currency", "product", "type")
    keys = p.strings("lookup_keys")
    keep = every(
        None if active is None else lambda r: r["active"] == active,
        equal,
        (lambda r: r.get("lookup_key") in keys) if keys else None,
        _recurring_match(p.sub("recurring")),
        created_match(p),
    )
    return list_page(ctx.state, "price", p, "/v1/prices", keep)


def _recurring_match(recurring: Params | None) -> Keep | None:
    if recurring is None:
        return None
    interval = recurring.str("interval")
    usage = recurring.str("usage_type")
    return lambda r: bool(
        r.get("recurring")
        and (interval is None or r["recurring"]["interval"] == interval)
        and (usage is None or r["recurring"]["usage_type"] == usage)
    )


@api("GET", "/v1/prices/search")
def search_prices(ctx: Ctx) -> Record:
    return search(ctx, "price")


@renderer("price")
def render_price(state: State, record: Record) -> Record:
    return dict(record)
