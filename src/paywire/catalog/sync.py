"""Keeping Stripe in line with the catalog: `push` makes it so, `check` reports drift.

Both match prices by lookup key. Stripe prices are immutable, so a changed amount is a
new price that takes the lookup key over (`transfer_lookup_key`); subscriptions on the old
price keep it, and only new checkouts get the new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paywire.catalog.model import Catalog, PriceSpec, ProductSpec
from paywire.catalog.portal import push_portal_configuration
from paywire.stripe import StripeGateway
from paywire.stripe import idempotency as keys


@dataclass(frozen=True)
class Change:
    """One thing `push` did (or found already right)."""

    action: str  # created | updated | replaced | reactivated | unchanged
    kind: str  # product | price | portal
    key: str  # product id, lookup key, or billing_portal.configuration
    detail: str = ""
    stripe_id: str | None = None

    def __str__(self) -> str:
        suffix = f" ({self.detail})" if self.detail else ""
        return f"{self.action:<11} {self.kind:<7} {self.key}{suffix}"


@dataclass(frozen=True)
class Drift:
    """One way Stripe differs from the catalog."""

    kind: str  # product | price
    key: str
    problem: str  # missing | inactive | amount | currency | interval | product | metadata | name

    detail: str = ""

    def __str__(self) -> str:
        suffix = f": {self.detail}" if self.detail else ""
        return f"{self.kind} {self.key}: {self.problem}{suffix}"


def _product_differences(spec: ProductSpec, found: dict[str, Any]) -> list[Drift]:
    drift = []
    if not found.get("active", True):
        drift.append(Drift("product", spec.product_id, "inactive"))
    if found.get("name") != spec.name:
        drift.append(Drift("product", spec.product_id, "name", f"{found.get('name')!r} != {spec.name!r}"))
    metadata = found.get("metadata") or {}
    wrong = {k: v for k, v in spec.metadata.items() if metadata.get(k) != v}
    if wrong:
        drift.append(Drift("product", spec.product_id, "metadata", f"expected {wrong}"))
    return drift


def _price_differences(spec: PriceSpec, found: dict[str, Any]) -> list[Drift]:
    """Differences that need a new price (amount, currency, interval, product)."""
    drift = []
    if found.get("unit_amount") != spec.unit_amount:
        drift.append(
            Drift(
                "price",
                spec.lookup_key,
                "amount",
                f"Stripe {found.get('unit_amount')}, catalog {spec.unit_amount}",
            )
        )
    if found.get("currency") != spec.currency:
        drift.append(
            Drift(
                "price",
                spec.lookup_key,
                "currency",
                f"Stripe {found.get('currency')}, catalog {spec.currency}",
            )
        )
    recurring = found.get("recurring") or {}
    interval = recurring.get("interval") if recurring else None
    if interval != spec.interval or (recurring and recurring.get("interval_count", 1) != 1):
        drift.append(
            Drift(
                "price",
                spec.lookup_key,
                "interval",
                f"Stripe {interval or 'one-time'}, catalog {spec.interval or 'one-time'}",
            )
        )
    product = found.get("product")
    product_id = product.get("id") if isinstance(product, dict) else product
    if product_id != spec.product_id:
        drift.append(
            Drift(
                "price",
                spec.lookup_key,
                "product",
                f"Stripe {product_id}, catalog {spec.product_id}",
            )
        )
    return drift


def check(catalog: Catalog, gateway: StripeGateway) -> list[Drift]:
    """Everything in Stripe that does not match the catalog (empty: in line)."""
    drift: list[Drift] = []
    for spec in catalog.product_specs():
        found = gateway.retrieve_product(spec.product_id)
        if found is None:
            drift.append(Drift("product", spec.product_id, "missing"))
        else:
            drift.extend(_product_differences(spec, found))
    prices = gateway.list_prices_by_lookup_keys(catalog.lookup_keys())
    for price_spec in catalog.price_specs():
        found_price = prices.get(price_spec.lookup_key)
        if found_price is None:
            drift.append(Drift("price", price_spec.lookup_key, "missing"))
            continue
        if not found_price.get("active", True):
            drift.append(Drift("price", price_spec.lookup_key, "inactive"))
        drift.extend(_price_differences(price_spec, found_price))
    return drift


def push(catalog: Catalog, gateway: StripeGateway) -> list[Change]:
    """Create or update products and prices so that `check` finds no drift. Safe to run
    again and again: every call is matched by id or lookup key and idempotency-keyed."""
    changes = [_push_product(spec, gateway) for spec in catalog.product_specs()]
    prices = gateway.list_prices_by_lookup_keys(catalog.lookup_keys())
    for spec in catalog.price_specs():
        changes.append(_push_price(spec, prices.get(spec.lookup_key), gateway))
    # The portal offers the prices as they are now (some may just have been replaced).
    current = gateway.list_prices_by_lookup_keys(catalog.lookup_keys())
    action, configuration_id = push_portal_configuration(catalog, gateway, current)
    changes.append(Change(action, "portal", "billing_portal.configuration", stripe_id=configuration_id))
    return changes


def _push_product(spec: ProductSpec, gateway: StripeGateway) -> Change:
    found = gateway.retrieve_product(spec.product_id)
    if found is None:
        created = gateway.create_product(
            product_id=spec.product_id,
            name=spec.name,
            description=spec.description,
            metadata=spec.metadata,
            idempotency_key=keys.catalog_product(
                spec.product_id, keys.fingerprint(spec.name, spec.description, spec.metadata)
            ),
        )
        return Change("created", "product", spec.product_id, stripe_id=created["id"])
    differences = _product_differences(spec, found)
    if not differences:
        return Change("unchanged", "product", spec.product_id, stripe_id=found["id"])
    gateway.update_product(
        spec.product_id,
        {
            "name": spec.name,
            "description": spec.description or "",
            "metadata": spec.metadata,
            "active": True,
        },
    )
    detail = ", ".join(d.problem for d in differences)
    return Change("updated", "product", spec.product_id, detail, stripe_id=found["id"])


def _push_price(spec: PriceSpec, found: dict[str, Any] | None, gateway: StripeGateway) -> Change:
    if found is not None and not _price_differences(spec, found):
        if found.get("active", True):
            return Change("unchanged", "price", spec.lookup_key, stripe_id=found["id"])
        gateway.update_price(found["id"], {"active": True})
        return Change("reactivated", "price", spec.lookup_key, stripe_id=found["id"])
    previous = found["id"] if found else None
    created = gateway.create_price(
        product_id=spec.product_id,
        lookup_key=spec.lookup_key,
        unit_amount=spec.unit_amount,
        currency=spec.currency,
        interval=spec.interval,
        metadata=spec.metadata,
        transfer_lookup_key=found is not None,
        # The replaced price is part of the key: going 500 -> 700 -> 500 within Stripe's
        # 24 h key window must create a third price, not replay the first.
        idempotency_key=keys.catalog_price(
            spec.lookup_key,
            keys.fingerprint(spec.unit_amount, spec.currency, spec.interval, spec.product_id, previous),
        ),
    )
    if found is None:
        return Change("created", "price", spec.lookup_key, stripe_id=created["id"])
    detail = "; ".join(str(d.detail) for d in _price_differences(spec, found))
    return Change(
        "replaced",
        "price",
        spec.lookup_key,
        f"{previous} -> {created['id']}: {detail}",
        stripe_id=created["id"],
    )
