"""Products: /v1/products."""

from __future__ import annotations

from stripesim.errors import InvalidRequest
from stripesim.present import list_page
from stripesim.resources import _catalog
from stripesim.resources._common import created_match, deleted, every
from stripesim.resources._search import search
from stripesim.routes import Ctx, api
from stripesim.state import Record

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


@api("POST", "/v1/products")
def create_product(ctx: Ctx) -> Record:
    p = ctx.params.only(*_FIELDS, "id", "default_price_data", "type")
    record = _catalog.create_product(ctx.state, p, p.str("id"))
    data = p.sub("default_price_data")
    if data is not None:
        price = _catalog.create_price(ctx.state, data, product=record)
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
        _catalog.apply_product_fields(record, p)
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
    active = p.bool("active")
    ids = p.strings("ids")
    keep = every(
        None if active is None else lambda r: r["active"] == active,
        (lambda r: r["id"] in ids) if ids else None,
        created_match(p),
    )
    return list_page(ctx.state, "product", p, "/v1/products", keep)


@api("GET", "/v1/products/search")
def search_products(ctx: Ctx) -> Record:
    return search(ctx, "product")
