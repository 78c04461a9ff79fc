"""Products: /v1/products."""

from __future__ import annotations

from stripesim.errors import InvalidRequest
from stripesim.present import paginate
from stripesim.resources._common import apply_metadata, created_filter, deleted, new_record
from stripesim.resources._search import search
from stripesim.routes import Ctx, api
from stripesim.state import Record, State
from stripesim.wire import Params

_FIELDS = (
    "name",
    "active",
    "description",
    "metadata",
    "tax_code",
    "unit_label",
    "images",
    "marketing_features",
    "statement_descriptor",
    "shippable",
    "url",
)


def _apply(record: Record, p: Params) -> None:
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


def create(state: State, p: Params, product_id: str | None = None) -> Record:
    if product_id and state.find(product_id) is not None:
        raise InvalidRequest(f"Product already exists: {product_id}", param="id", code="resource_already_exists")
    p.str("name", required=True)
    record = new_record(
        state,
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
    _apply(record, p)
    state.insert(record)
    state.emit("product.created", record)
    return record


@api("POST", "/v1/products")
def create_product(ctx: Ctx) -> Record:
    p = ctx.params.only(*_FIELDS, "id", "default_price_data", "type")
    record = create(ctx.state, p, p.str("id"))
    data = p.sub("default_price_data")
    if data is not None:
        from stripesim.resources.prices import create as create_price

        price = create_price(ctx.state, data, product=record)
        with ctx.state.changing(record):
            record["default_price"] = price["id"]
    return record


@api("GET", "/v1/products/{product}")
def retrieve_product(ctx: Ctx, product: str) -> Record:
    return ctx.state.get(product, "product")


@api("POST", "/v1/products/{product}")
def update_product(ctx: Ctx, product: str) -> Record:
    p = ctx.params.only(*_FIELDS, "default_price")
    record = ctx.state.get(product, "product")
    with ctx.state.changing(record):
        _apply(record, p)
        if p.has("default_price"):
            price_id = p.str("default_price")
            if price_id:
                price = ctx.state.get(price_id, "price", "default_price")
                if price["product"] != record["id"]:
                    raise InvalidRequest("The default price must belong to this product.", param="default_price")
            record["default_price"] = price_id or None
        record["updated"] = ctx.state.now()
    return record


@api("DELETE", "/v1/products/{product}")
def delete_product(ctx: Ctx, product: str) -> Record:
    record = ctx.state.get(product, "product")
    if ctx.state.where("price", product=product):
        raise InvalidRequest(
            "This product cannot be deleted because it has one or more user-created prices.",
            param="id",
        )
    record["deleted"] = True
    ctx.state.emit("product.deleted", record, snapshot=ctx.state.snapshot({**record, "deleted": False}))
    return deleted(record)


@api("GET", "/v1/products")
def list_products(ctx: Ctx) -> Record:
    p = ctx.params.only("active", "ids", "limit", "starting_after", "ending_before", "created", "shippable", "url")
    records = list(ctx.state.all("product"))
    active = p.bool("active")
    if active is not None:
        records = [r for r in records if r["active"] == active]
    ids = p.strings("ids")
    if ids:
        records = [r for r in records if r["id"] in ids]
    return paginate(created_filter(p, records), p, "/v1/products")


@api("GET", "/v1/products/search")
def search_products(ctx: Ctx) -> Record:
    return search(ctx, "product")
