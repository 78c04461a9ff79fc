"""Products and prices made from request parameters. Each can create the other: a price's
`product_data` makes its product, a product's `default_price_data` its first price, and an
item's `price_data` a price on the spot."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from stripesim.errors import InvalidRequest
from stripesim.resources._common import apply_metadata
from stripesim.shapes import new_record
from stripesim.state import Record, State
from stripesim.wire import Params

INTERVALS = ("day", "week", "month", "year")


def apply_product_fields(record: Record, p: Params) -> None:
    for key in ("description", "tax_code", "unit_label", "statement_descriptor", "url"):
        if p.has(key):
            record[key] = p.str(key) or None
    if p.has("name"):
        record["name"] = p.str("name", required=True)
    if p.has("active"):
        record["active"] = p.bool("active")
    if p.has("shippable"):
        record["shippable"] = p.bool("shippable")
    if p.has("images"):
        record["images"] = p.strings("images")
    if p.has("marketing_features"):
        record["marketing_features"] = [{"name": f.str("name", required=True)} for f in p.list_of("marketing_features")]
    apply_metadata(record, p)


def create_product(state: State, p: Params, product_id: str | None = None) -> Record:
    if product_id and state.find(product_id) is not None:
        raise InvalidRequest(f"Product already exists: {product_id}", param="id", code="resource_already_exists")
    p.str("name", required=True)
    record = new_record(
        "product",
        "prod",
        created=state.now(),
        active=True,
        type="service",
        package_dimensions=None,
        shippable=None,
        default_price=None,
    )
    if product_id:
        record["id"] = product_id
    record["updated"] = record["created"]
    apply_product_fields(record, p)
    state.insert(record)
    state.emit("product.created", record)
    return record


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


def create_price(state: State, p: Params, product: Record | None = None) -> Record:
    currency = (p.str("currency", required=True) or "").lower()
    if product is None:
        product_id = p.str("product")
        data = p.sub("product_data")
        if product_id:
            product = state.get(product_id, "product", "product")
        elif data is not None:
            data.only("name", "active", "metadata", "statement_descriptor", "tax_code", "unit_label", "id")
            product = create_product(state, data, data.str("id"))
        else:
            raise InvalidRequest("Missing required param: product.", param="product", code="parameter_missing")
    scheme = p.str("billing_scheme", choices=("per_unit", "tiered"), default="per_unit")
    record = new_record(
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


def price_param(state: State, p: Params, *, required: bool) -> Record | None:
    """The price named by `price`, or a new one made from `price_data` (subscription items,
    Checkout line items)."""
    price_id = p.str("price")
    if price_id:
        return state.get(price_id, "price", p.name("price"))
    data = p.sub("price_data")
    if data is not None:
        data.only("currency", "product", "unit_amount", "unit_amount_decimal", "recurring", "tax_behavior")
        return create_price(state, data)
    if required:
        raise InvalidRequest(
            f"Missing required param: {p.name('price')}.", param=p.name("price"), code="parameter_missing"
        )
    return None
