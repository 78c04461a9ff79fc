"""The customer portal's configuration, derived from the catalog, so plan switching works in
Stripe's portal with the same rules as paywire's own API.

Stripe's default configuration cannot switch plans (it needs the list of products and prices
to offer). `catalog push` creates, or brings up to date, one configuration marked
`metadata.paywire = "catalog"`; `open_portal` uses it. Its rules mirror `plan_changes`:
upgrades prorated and invoiced now, downgrades (a cheaper price or a shorter interval) at the
period end, seats adjustable within the plan's maximum.
"""

from __future__ import annotations

from typing import Any

from paywire.catalog.model import Catalog
from paywire.stripe import StripeGateway
from paywire.stripe import idempotency as keys

MARKER = {"paywire": "catalog"}


def portal_features(catalog: Catalog, prices: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The configuration's `features`; `prices` maps lookup keys to Stripe prices."""
    products = []
    for plan in sorted(catalog.plans.values(), key=lambda p: p.rank):
        if plan.usage:
            # The portal switches a subscription's one price; a hybrid plan needs its metered
            # price added (or dropped) too, which paywire's own plan changes do.
            continue
        price_ids = [prices[plan.lookup_key(i)]["id"] for i in plan.prices if plan.lookup_key(i) in prices]
        if not price_ids:
            continue
        entry: dict[str, Any] = {"product": plan.product_id, "prices": price_ids}
        if plan.per_seat:
            entry["adjustable_quantity"] = {"enabled": True, "minimum": 1, "maximum": plan.max_quantity}
        products.append(entry)
    return {
        "customer_update": {"enabled": True, "allowed_updates": ["email", "address", "name", "tax_id"]},
        "invoice_history": {"enabled": True},
        "payment_method_update": {"enabled": True},
        "subscription_cancel": {
            "enabled": True,
            "mode": "at_period_end",
            "proration_behavior": "none",
            "cancellation_reason": {
                "enabled": True,
                "options": ["too_expensive", "missing_features", "switched_service", "unused", "other"],
            },
        },
        "subscription_update": {
            "enabled": bool(products),
            "default_allowed_updates": ["price", "quantity", "promotion_code"],
            "products": products,
            "proration_behavior": "always_invoice",
            "schedule_at_period_end": {
                "conditions": [{"type": "decreasing_item_amount"}, {"type": "shortening_interval"}]
            },
        },
    }


def find_configuration(gateway: StripeGateway) -> dict[str, Any] | None:
    """paywire's active configuration, if `catalog push` made one."""
    for config in gateway.list_portal_configurations():
        if config.get("active") and (config.get("metadata") or {}).get("paywire") == MARKER["paywire"]:
            return config
    return None


def _offered(config: dict[str, Any]) -> list[tuple[str, tuple[str, ...]]]:
    update = (config.get("features") or {}).get("subscription_update") or {}
    return sorted((p["product"], tuple(sorted(p.get("prices") or []))) for p in update.get("products") or [])


def push_portal_configuration(
    catalog: Catalog, gateway: StripeGateway, prices: dict[str, dict[str, Any]]
) -> tuple[str, str]:
    """Create or update the configuration: (action, configuration id)."""
    features = portal_features(catalog, prices)
    found = find_configuration(gateway)
    if found is None:
        created = gateway.create_portal_configuration(
            {"features": features, "metadata": MARKER},
            idempotency_key=keys.portal_configuration(keys.fingerprint(repr(features))),
        )
        return "created", str(created["id"])
    wanted = _offered({"features": features})
    switching = ((found.get("features") or {}).get("subscription_update") or {}).get("enabled")
    if _offered(found) == wanted and bool(switching) == bool(wanted):
        return "unchanged", str(found["id"])
    gateway.update_portal_configuration(str(found["id"]), {"features": features})
    return "updated", str(found["id"])
