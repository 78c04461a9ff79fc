"""The `items[]` of subscriptions and invoice previews, and the behaviours that come with them."""

from __future__ import annotations

from stripesim.billing.change_plans import ItemChange
from stripesim.billing.prorations import PRORATION_BEHAVIORS
from stripesim.billing.subscription_items import ItemSpec
from stripesim.resources._catalog import price_param
from stripesim.state import State
from stripesim.wire import Params

PAYMENT_BEHAVIORS = ("allow_incomplete", "default_incomplete", "error_if_incomplete", "pending_if_incomplete")


def item_specs(state: State, p: Params, key: str = "items") -> list[ItemSpec]:
    specs = []
    for item in p.list_of(key, required=True):
        item.only("price", "price_data", "quantity", "metadata", "tax_rates", "discounts", "billing_thresholds", "plan")
        price = price_param(state, item, required=True)
        assert price is not None
        specs.append(ItemSpec(price, item.int("quantity", minimum=0, default=1), item.metadata() or {}))
    return specs


def item_changes(state: State, p: Params, key: str = "items") -> list[ItemChange]:
    out = []
    for item in p.list_of(key):
        item.only(
            "id",
            "price",
            "price_data",
            "quantity",
            "deleted",
            "metadata",
            "clear_usage",
            "tax_rates",
            "discounts",
            "billing_thresholds",
            "plan",
        )
        out.append(
            ItemChange(
                item_id=item.str("id"),
                price=price_param(state, item, required=False),
                quantity=item.int("quantity", minimum=0),
                deleted=bool(item.bool("deleted")),
                metadata=item.metadata(),
            )
        )
    return out


def proration_behavior(p: Params, default: str = "create_prorations") -> str:
    return p.str("proration_behavior", choices=PRORATION_BEHAVIORS, default=default) or default


def payment_behavior(p: Params) -> str:
    return p.str("payment_behavior", choices=PAYMENT_BEHAVIORS, default="allow_incomplete") or "allow_incomplete"
