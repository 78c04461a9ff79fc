"""Subscription items: /v1/subscription_items. Each change is a change of its subscription's items."""

from __future__ import annotations

from stripesim.billing.change_plans import ItemChange
from stripesim.billing.changes import change_items
from stripesim.billing.subscription_items import items_of
from stripesim.errors import InvalidRequest
from stripesim.present import paginate
from stripesim.resources._catalog import price_param
from stripesim.resources._item_params import proration_behavior
from stripesim.routes import Ctx, api
from stripesim.state import Record
from stripesim.wire import Params


@api("GET", "/v1/subscription_items")
def list_items(ctx: Ctx) -> Record:
    p = ctx.params.only("subscription", "limit", "starting_after", "ending_before")
    sub = ctx.state.get(p.str("subscription", required=True) or "", "subscription", "subscription")
    return paginate(list(reversed(items_of(ctx.state, sub))), p, f"/v1/subscription_items?subscription={sub['id']}")


@api("GET", "/v1/subscription_items/{item}")
def retrieve_item(ctx: Ctx, item: str) -> Record:
    return ctx.state.get(item, "subscription_item")


def _item_update(ctx: Ctx, sub: Record, change: ItemChange, p: Params) -> None:
    proration = proration_behavior(p)
    behavior = p.str("payment_behavior", default="allow_incomplete") or "allow_incomplete"
    now = ctx.state.now_for(sub)
    with ctx.state.changing(sub):
        change_items(
            ctx.state,
            sub,
            [change],
            proration_behavior=proration,
            payment_behavior=behavior,
            at=p.int("proration_date") or now,
        )


@api("POST", "/v1/subscription_items")
def create_item(ctx: Ctx) -> Record:
    p = ctx.params.only(
        "subscription",
        "price",
        "price_data",
        "quantity",
        "metadata",
        "proration_behavior",
        "proration_date",
        "payment_behavior",
        "tax_rates",
    )
    sub = ctx.state.get(p.str("subscription", required=True) or "", "subscription", "subscription")
    price = price_param(ctx.state, p, required=True)
    before = set(sub["_items"])
    _item_update(
        ctx,
        sub,
        ItemChange(price=price, quantity=p.int("quantity", minimum=0, default=1), metadata=p.metadata()),
        p,
    )
    new = [i for i in sub["_items"] if i not in before]
    return ctx.state.get(new[0], "subscription_item")


@api("POST", "/v1/subscription_items/{item}")
def update_item(ctx: Ctx, item: str) -> Record:
    p = ctx.params.only(
        "price",
        "price_data",
        "quantity",
        "metadata",
        "proration_behavior",
        "proration_date",
        "payment_behavior",
        "tax_rates",
        "off_session",
    )
    record = ctx.state.get(item, "subscription_item")
    sub = ctx.state.get(record["subscription"], "subscription")
    _item_update(
        ctx,
        sub,
        ItemChange(
            item_id=item,
            price=price_param(ctx.state, p, required=False),
            quantity=p.int("quantity", minimum=0),
            metadata=p.metadata(),
        ),
        p,
    )
    return ctx.state.get(item, "subscription_item")


@api("DELETE", "/v1/subscription_items/{item}")
def delete_item(ctx: Ctx, item: str) -> Record:
    p = ctx.params.only("proration_behavior", "proration_date", "clear_usage")
    record = ctx.state.get(item, "subscription_item")
    sub = ctx.state.get(record["subscription"], "subscription")
    if len(sub["_items"]) == 1:
        raise InvalidRequest(
            "A subscription must have at least one active plan. To cancel a subscription, "
            "delete the subscription instead.",
            param="item",
        )
    _item_update(ctx, sub, ItemChange(item_id=item, deleted=True), p)
    return {"id": item, "object": "subscription_item", "deleted": True}
