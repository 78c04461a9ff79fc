"""Prices: /v1/prices, and what a price charges for a quantity."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from stripesim.errors import InvalidRequest
from stripesim.present import paginate
from stripesim.resources._common import apply_metadata, created_filter, filter_equal, new_record
from stripesim.resources._search import search
from stripesim.routes import Ctx, api
from stripesim.state import Record, State, renderer
from stripesim.wire import Params

INTERVALS = ("day", "week", "month", "year")


def amount_for(price: Record, quantity: int) -> int:
    """What `quantity` units of `price` cost, in the smallest currency unit."""
    if price.get("billing_scheme") == "tiered":
        return _tiered_amount(price, quantity)
    unit = Decimal(price.get("unit_amount_decimal") or price.get("unit_amount") or 0)
    transform = price.get("transform_quantity")
    if transform:
        divided = Decimal(quantity) / Decimal(transform["divide_by"])
        q = int(divided.to_integral_value(rounding="ROUND_CEILING" if transform["round"] == "up" else "ROUND_FLOOR"))
        return int((unit * q).to_integral_value(rounding=ROUND_HALF_UP))
    return int((unit * quantity).to_integral_value(rounding=ROUND_HALF_UP))


def _tiered_amount(price: Record, quantity: int) -> int:
    tiers = price.get("tiers") or []
    if price.get("tiers_mode") == "volume":
        for tier in tiers:
            if tier["up_to"] is None or quantity <= tier["up_to"]:
                unit = Decimal(tier.get("unit_amount_decimal") or tier.get("unit_amount") or 0)
                return int(unit * quantity) + int(tier.get("flat_amount") or 0) if quantity else 0
        return 0
    total = Decimal(0)
    previous = 0
    for tier in tiers:
        if quantity <= previous:
            break
        upper = tier["up_to"] if tier["up_to"] is not None else quantity
        units = min(quantity, upper) - previous
        unit = Decimal(tier.get("unit_amount_decimal") or tier.get("unit_amount") or 0)
        total += unit * units + int(tier.get("flat_amount") or 0)
        previous = upper
    return int(total.to_integral_value(rounding=ROUND_HALF_UP))


def _tiers(p: Params) -> list[dict[str, Any]]:
    tiers = []
    for i, t in enumerate(p.list_of("tiers")):
        t.only("up_to", "unit_amount", "unit_amount_decimal", "flat_amount", "flat_amount_decimal")
        up_to_raw = t.raw("up_to")
        up_to = None if up_to_raw == "inf" else t.int("up_to", required=True)
        unit = t.int("unit_amount")
        flat = t.int("flat_amount")
        tiers.append(
            {
                "flat_amount": flat,
                "flat_amount_decimal": str(flat) if flat is not None else None,
                "unit_amount": unit,
                "unit_amount_decimal": t.str("unit_amount_decimal") or (str(unit) if unit is not None else None),
                "up_to": up_to,
            }
        )
        if up_to is None and i != len(p.list("tiers")) - 1:
            raise InvalidRequest("Only the last tier may have up_to=inf.", param=f"tiers[{i}][up_to]")
    if not tiers or tiers[-1]["up_to"] is not None:
        raise InvalidRequest("The last tier must have up_to=inf.", param="tiers")
    return tiers


def claim_lookup_key(state: State, price: Record, key: str | None, transfer: bool, param: str) -> None:
    if not key:
        price["lookup_key"] = None
        return
    for other in state.all("price"):
        if other["id"] != price["id"] and other.get("lookup_key") == key:
            if not transfer:
                raise InvalidRequest(
                    f"A price ({other['id']}) already uses that lookup key.",
                    param=param,
                )
            with state.changing(other):
                other["lookup_key"] = None
    price["lookup_key"] = key


def create(state: State, p: Params, product: Record | None = None) -> Record:
    currency = (p.str("currency", required=True) or "").lower()
    if product is None:
        product_id = p.str("product")
        data = p.sub("product_data")
        if product_id:
            product = state.get(product_id, "product", "product")
        elif data is not None:
            from stripesim.resources.products import create as create_product

            data.only("name", "active", "metadata", "statement_descriptor", "tax_code", "unit_label", "id")
            product = create_product(state, data, data.str("id"))
        else:
            raise InvalidRequest("Missing required param: product.", param="product", code="parameter_missing")
    scheme = p.str("billing_scheme", choices=("per_unit", "tiered"), default="per_unit")
    record = new_record(
        state,
        "price",
        "price",
        created=state.now(),
        active=p.bool("active", default=True),
        billing_scheme=scheme,
        currency=currency,
        product=product["id"],
        custom_unit_amount=None,
        transform_quantity=None,
        recurring=None,
        tiers_mode=None,
        type="one_time",
        nickname=p.str("nickname"),
        lookup_key=None,
        tax_behavior=p.str("tax_behavior", choices=("inclusive", "exclusive", "unspecified"), default="unspecified"),
    )
    if scheme == "tiered":
        record["tiers_mode"] = p.str("tiers_mode", required=True, choices=("graduated", "volume"))
        record["tiers"] = _tiers(p)
        record["unit_amount"] = None
        record["unit_amount_decimal"] = None
    else:
        amount = p.int("unit_amount", minimum=0)
        decimal = p.str("unit_amount_decimal")
        if amount is None and decimal is None and not p.has("custom_unit_amount"):
            raise InvalidRequest("Missing required param: unit_amount.", param="unit_amount", code="parameter_missing")
        record["unit_amount"] = amount if amount is not None else (int(Decimal(decimal)) if decimal else None)
        record["unit_amount_decimal"] = decimal or (str(amount) if amount is not None else None)
    recurring = p.sub("recurring")
    if recurring is not None:
        recurring.only("interval", "interval_count", "usage_type", "meter", "trial_period_days", "aggregate_usage")
        usage = recurring.str("usage_type", choices=("licensed", "metered"), default="licensed")
        meter = recurring.str("meter")
        if usage == "metered" and not meter:
            raise InvalidRequest(
                "Metered prices must reference a billing meter (recurring[meter]); usage records were removed.",
                param="recurring[meter]",
            )
        if meter:
            state.get(meter, "billing.meter", "recurring[meter]")
        record["recurring"] = {
            "interval": recurring.str("interval", required=True, choices=INTERVALS),
            "interval_count": recurring.int("interval_count", minimum=1, default=1),
            "meter": meter,
            "trial_period_days": recurring.int("trial_period_days"),
            "usage_type": usage,
        }
        record["type"] = "recurring"
    transform = p.sub("transform_quantity")
    if transform is not None:
        record["transform_quantity"] = {
            "divide_by": transform.int("divide_by", required=True, minimum=1),
            "round": transform.str("round", required=True, choices=("up", "down")),
        }
    apply_metadata(record, p)
    claim_lookup_key(state, record, p.str("lookup_key"), bool(p.bool("transfer_lookup_key")), "lookup_key")
    state.insert(record)
    state.emit("price.created", record)
    return record


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
    return create(ctx.state, ctx.params.only(*_CREATE_FIELDS))


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
            claim_lookup_key(ctx.state, record, p.str("lookup_key"), bool(p.bool("transfer_lookup_key")), "lookup_key")
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
    records = list(ctx.state.all("price"))
    active = p.bool("active")
    if active is not None:
        records = [r for r in records if r["active"] == active]
    records = filter_equal(records, p, "currency", "product", "type")
    keys = p.strings("lookup_keys")
    if keys:
        records = [r for r in records if r.get("lookup_key") in keys]
    recurring = p.sub("recurring")
    if recurring is not None:
        interval = recurring.str("interval")
        usage = recurring.str("usage_type")
        records = [
            r
            for r in records
            if r.get("recurring")
            and (interval is None or r["recurring"]["interval"] == interval)
            and (usage is None or r["recurring"]["usage_type"] == usage)
        ]
    return paginate(created_filter(p, records), p, "/v1/prices")


@api("GET", "/v1/prices/search")
def search_prices(ctx: Ctx) -> Record:
    return search(ctx, "price")


@renderer("price")
def render_price(state: State, record: Record) -> Record:
    return dict(record)
