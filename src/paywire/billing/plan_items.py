"""A plan's subscription items: its flat price (per seat or not) and, on a hybrid plan, a
metered price per meter it bills (no quantity: usage is reported, not bought).

Moving a subscription to another plan changes the flat item's price and quantity, keeps a
metered item whose meter the target bills too (at the target's price), drops one it does
not, and adds the target's other meters. Pure but for the price lookups.
"""

from __future__ import annotations

from typing import Any

from paywire.billing.plan_rules import Target
from paywire.billing.prices import PriceBook
from paywire.catalog import Catalog


def is_metered(item: dict[str, Any]) -> bool:
    """A subscription item (or schedule phase item) whose price is metered."""
    price = item.get("price")
    return isinstance(price, dict) and (price.get("recurring") or {}).get("usage_type") == "metered"


def meter_of(item: dict[str, Any]) -> str | None:
    """The catalog meter a metered item bills (its price says so in `paywire_meter`)."""
    price = item.get("price")
    return ((price.get("metadata") or {}).get("paywire_meter") if isinstance(price, dict) else None) or None


def licensed_item(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The item carrying the plan's flat price (the first item when none is metered)."""
    return next((item for item in items if not is_metered(item)), items[0])


def metered_prices(catalog: Catalog, prices: PriceBook, target: Target) -> dict[str, str]:
    """The target's metered price ids, by meter."""
    return {
        spec.meter: prices.price_id_for(spec.lookup_key)
        for spec in catalog.usage_specs(target.plan, target.interval)
        if spec.meter
    }


def change_items(
    catalog: Catalog, prices: PriceBook, items: list[dict[str, Any]], target: Target
) -> list[dict[str, Any]]:
    """The `items` of a subscription update (or preview) moving `items` to `target`."""
    flat = licensed_item(items)
    changed: list[dict[str, Any]] = [
        {"id": flat["id"], "price": prices.price_id_for(target.lookup_key), "quantity": target.quantity}
    ]
    wanted = metered_prices(catalog, prices, target)
    for item in items:
        if item is flat or not is_metered(item):
            continue
        price_id = wanted.pop(meter_of(item) or "", None)
        if price_id is None:
            changed.append({"id": item["id"], "deleted": True})
        elif price_id != (item.get("price") or {}).get("id"):
            changed.append({"id": item["id"], "price": price_id})
    changed += [{"price": price_id} for price_id in wanted.values()]
    return changed


def new_items(catalog: Catalog, prices: PriceBook, target: Target) -> list[dict[str, Any]]:
    """The items of a subscription (or schedule phase) on `target` from scratch."""
    flat = {"price": prices.price_id_for(target.lookup_key), "quantity": target.quantity}
    return [flat, *({"price": price_id} for price_id in metered_prices(catalog, prices, target).values())]


def phase_items_now(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The subscription's items as a schedule phase keeps them (metered ones without a quantity)."""
    return [
        {"price": (item.get("price") or {}).get("id")}
        if is_metered(item)
        else {"price": (item.get("price") or {}).get("id"), "quantity": int(item.get("quantity") or 1)}
        for item in items
    ]
