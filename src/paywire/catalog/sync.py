"""Keeping Stripe in line with the catalog: `push` makes it so, `check` reports drift.

Both match prices by lookup key and meters by event name. Stripe prices are immutable, so a
changed amount (or tiers, or meter) is a new price that takes the lookup key over
(`transfer_lookup_key`); subscriptions on the old price keep it, and only new checkouts get
the new one. A meter's formula and payload keys cannot change in Stripe either: `check`
reports such a difference and `push` leaves it (declare a meter with another event name).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from paywire.catalog.model import Catalog, Meter, PriceSpec, ProductSpec
from paywire.catalog.portal import push_portal_configuration
from paywire.stripe import StripeGateway
from paywire.stripe import idempotency as keys


@dataclass(frozen=True)
class Change:
    """One thing `push` did (or found already right)."""

    action: str  # created | updated | replaced | reactivated | unchanged
    kind: str  # meter | product | price | portal
    key: str  # meter key, product id, lookup key, or billing_portal.configuration
    detail: str = ""
    stripe_id: str | None = None

    def __str__(self) -> str:
        suffix = f" ({self.detail})" if self.detail else ""
        return f"{self.action:<11} {self.kind:<7} {self.key}{suffix}"


@dataclass(frozen=True)
class Drift:
    """One way Stripe differs from the catalog."""

    kind: str  # meter | product | price
    key: str
    problem: str  # missing | inactive | amount | currency | interval | product | metadata | name | meter | formula

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


def _meter_differences(meter: Meter, found: dict[str, Any]) -> list[Drift]:
    drift = []
    if found.get("status") != "active":
        drift.append(Drift("meter", meter.key, "inactive"))
    formula = (found.get("default_aggregation") or {}).get("formula")
    customer_key = (found.get("customer_mapping") or {}).get("event_payload_key")
    value_key = (found.get("value_settings") or {}).get("event_payload_key")
    if (formula, customer_key, value_key) != (meter.formula, meter.customer_key, meter.value_key):
        drift.append(
            Drift(
                "meter",
                meter.key,
                "formula",
                f"Stripe {formula}({customer_key}, {value_key}), catalog "
                f"{meter.formula}({meter.customer_key}, {meter.value_key}); a meter cannot change these",
            )
        )
    if found.get("display_name") != meter.name:
        drift.append(Drift("meter", meter.key, "name", f"{found.get('display_name')!r} != {meter.name!r}"))
    return drift


def _find_meters(catalog: Catalog, gateway: StripeGateway) -> dict[str, dict[str, Any]]:
    """The Stripe meter of each catalog meter, by event name (an active one first)."""
    found: dict[str, dict[str, Any]] = {}
    for meter in gateway.metering.list_meters():
        ours = catalog.meter_for_event(str(meter.get("event_name")))
        if ours is not None and (ours.key not in found or meter.get("status") == "active"):
            found[ours.key] = meter
    return found


def _tiers_of(found: dict[str, Any]) -> tuple[tuple[int | None, Decimal], ...]:
    return tuple(
        (t.get("up_to"), Decimal(str(t.get("unit_amount_decimal") or t.get("unit_amount") or 0)))
        for t in found.get("tiers") or []
    )


def _metered_differences(spec: PriceSpec, found: dict[str, Any], meter_id: str | None) -> list[Drift]:
    recurring = found.get("recurring") or {}
    drift = []
    if recurring.get("usage_type") != "metered" or recurring.get("meter") != meter_id:
        drift.append(Drift("price", spec.lookup_key, "meter", f"Stripe {recurring.get('meter')}, catalog {meter_id}"))
    wanted_tiers = tuple((t.up_to, Decimal(t.unit_amount_decimal)) for t in spec.tiers)
    if wanted_tiers != (_tiers_of(found) if found.get("billing_scheme") == "tiered" else ()):
        drift.append(Drift("price", spec.lookup_key, "amount", "tiers differ"))
    elif not spec.tiers and Decimal(str(found.get("unit_amount_decimal") or "-1")) != Decimal(
        spec.unit_amount_decimal or "0"
    ):
        drift.append(
            Drift(
                "price",
                spec.lookup_key,
                "amount",
                f"Stripe {found.get('unit_amount_decimal')}, catalog {spec.unit_amount_decimal}",
            )
        )
    return drift


def _price_differences(spec: PriceSpec, found: dict[str, Any], meter_id: str | None = None) -> list[Drift]:
    """Differences that need a new price (amount, currency, interval, product; a metered
    price's meter and tiers)."""
    drift = _metered_differences(spec, found, meter_id) if spec.metered else []
    if not spec.metered and found.get("unit_amount") != spec.unit_amount:
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


def _with_tiers(spec: PriceSpec, found: dict[str, Any], gateway: StripeGateway) -> dict[str, Any]:
    """A listed price with its tiers, which Stripe includes only when asked."""
    if spec.tiers and found.get("billing_scheme") == "tiered" and "tiers" not in found:
        return gateway.metering.retrieve_price(str(found["id"]))
    return found


def _meter_id(spec: PriceSpec, meters: dict[str, dict[str, Any]]) -> str | None:
    return str(meters[spec.meter]["id"]) if spec.meter and spec.meter in meters else None


def check(catalog: Catalog, gateway: StripeGateway) -> list[Drift]:
    """Everything in Stripe that does not match the catalog (empty: in line)."""
    drift: list[Drift] = []
    meters = _find_meters(catalog, gateway) if catalog.meters else {}
    for meter in catalog.meters.values():
        found_meter = meters.get(meter.key)
        if found_meter is None:
            drift.append(Drift("meter", meter.key, "missing"))
        else:
            drift.extend(_meter_differences(meter, found_meter))
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
        found_price = _with_tiers(price_spec, found_price, gateway)
        drift.extend(_price_differences(price_spec, found_price, _meter_id(price_spec, meters)))
    return drift


def push(catalog: Catalog, gateway: StripeGateway) -> list[Change]:
    """Create or update products and prices so that `check` finds no drift. Safe to run
    again and again: every call is matched by id or lookup key and idempotency-keyed."""
    meters = _find_meters(catalog, gateway) if catalog.meters else {}
    changes = [_push_meter(meter, meters, gateway) for meter in catalog.meters.values()]
    changes += [_push_product(spec, gateway) for spec in catalog.product_specs()]
    prices = gateway.list_prices_by_lookup_keys(catalog.lookup_keys())
    for spec in catalog.price_specs():
        found = prices.get(spec.lookup_key)
        found = _with_tiers(spec, found, gateway) if found is not None else None
        changes.append(_push_price(spec, found, gateway, _meter_id(spec, meters)))
    # The portal offers the prices as they are now (some may just have been replaced).
    current = gateway.list_prices_by_lookup_keys(catalog.lookup_keys())
    action, configuration_id = push_portal_configuration(catalog, gateway, current)
    changes.append(Change(action, "portal", "billing_portal.configuration", stripe_id=configuration_id))
    return changes


def _push_meter(meter: Meter, meters: dict[str, dict[str, Any]], gateway: StripeGateway) -> Change:
    """Create the meter if Stripe has no active one for its event name (`meters` learns its
    id), rename it if its name changed; a different formula is left for `check` to report."""
    found = meters.get(meter.key)
    if found is None or found.get("status") != "active":
        created = gateway.metering.create_meter(
            display_name=meter.name,
            event_name=meter.event,
            formula=meter.formula,
            customer_key=meter.customer_key,
            value_key=meter.value_key,
            idempotency_key=keys.catalog_meter(
                meter.event, keys.fingerprint(meter.formula, meter.customer_key, meter.value_key, found and found["id"])
            ),
        )
        meters[meter.key] = created
        return Change("created", "meter", meter.key, stripe_id=created["id"])
    problems = [d.problem for d in _meter_differences(meter, found)]
    if "formula" in problems:
        return Change("drifted", "meter", meter.key, "formula or payload keys differ; see catalog check", found["id"])
    if "name" in problems:
        gateway.metering.rename_meter(str(found["id"]), meter.name)
        return Change("updated", "meter", meter.key, "name", stripe_id=found["id"])
    return Change("unchanged", "meter", meter.key, stripe_id=found["id"])


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


def _push_price(
    spec: PriceSpec, found: dict[str, Any] | None, gateway: StripeGateway, meter_id: str | None = None
) -> Change:
    if found is not None and not _price_differences(spec, found, meter_id):
        if found.get("active", True):
            return Change("unchanged", "price", spec.lookup_key, stripe_id=found["id"])
        gateway.update_price(found["id"], {"active": True})
        return Change("reactivated", "price", spec.lookup_key, stripe_id=found["id"])
    previous = found["id"] if found else None
    if spec.metered:
        return _push_metered_price(spec, found, gateway, meter_id)
    assert spec.unit_amount is not None
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


def _push_metered_price(
    spec: PriceSpec, found: dict[str, Any] | None, gateway: StripeGateway, meter_id: str | None
) -> Change:
    if meter_id is None:
        raise ValueError(f"price {spec.lookup_key}: meter {spec.meter!r} is not in Stripe")
    previous = found["id"] if found else None
    tiers = [(t.up_to, t.unit_amount_decimal) for t in spec.tiers]
    created = gateway.metering.create_metered_price(
        product_id=spec.product_id,
        lookup_key=spec.lookup_key,
        currency=spec.currency,
        interval=str(spec.interval),
        meter_id=meter_id,
        unit_amount_decimal=spec.unit_amount_decimal,
        tiers=tiers,
        metadata=spec.metadata,
        transfer_lookup_key=found is not None,
        idempotency_key=keys.catalog_price(
            spec.lookup_key,
            keys.fingerprint(tiers, spec.unit_amount_decimal, spec.currency, spec.interval, meter_id, previous),
        ),
    )
    if found is None:
        return Change("created", "price", spec.lookup_key, stripe_id=created["id"])
    detail = "; ".join(str(d.detail) for d in _price_differences(spec, found, meter_id))
    return Change("replaced", "price", spec.lookup_key, f"{previous} -> {created['id']}: {detail}", created["id"])
