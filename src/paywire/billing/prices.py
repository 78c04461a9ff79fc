"""The catalog's prices as Stripe holds them, found by lookup key and briefly cached.

Checkout uses the Stripe price only if it matches the catalog (amount, currency,
interval): a customer is never charged something other than what paywire offers.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from paywire.billing.errors import BillingUnavailable, PriceUnavailable
from paywire.catalog import Catalog, PriceSpec
from paywire.stripe import StripeGateway, StripeUnavailable

DEFAULT_TTL_SECONDS = 300.0


class PriceBook:
    def __init__(self, catalog: Catalog, gateway: StripeGateway, ttl: float = DEFAULT_TTL_SECONDS) -> None:
        self._catalog = catalog
        self._gateway = gateway
        self._ttl = ttl
        self._lock = threading.Lock()
        self._prices: dict[str, dict[str, Any]] = {}
        self._loaded_at = float("-inf")
        self._specs = {spec.lookup_key: spec for spec in catalog.price_specs()}

    def price_id_for(self, lookup_key: str) -> str:
        """The Stripe price id to sell `lookup_key` at; refreshes once on a miss."""
        spec = self._specs[lookup_key]
        price = self._lookup(lookup_key, refresh=False)
        if price is None or not _matches(spec, price):
            price = self._lookup(lookup_key, refresh=True)
        if price is None:
            raise PriceUnavailable(f"The price {lookup_key} is not in Stripe; run `paywire catalog push`.")
        if not price.get("active", True) or not _matches(spec, price):
            raise PriceUnavailable(
                f"The Stripe price for {lookup_key} differs from the catalog; run `paywire catalog check`."
            )
        return str(price["id"])

    def invalidate(self) -> None:
        with self._lock:
            self._loaded_at = float("-inf")

    def _lookup(self, lookup_key: str, *, refresh: bool) -> dict[str, Any] | None:
        with self._lock:
            stale = time.monotonic() - self._loaded_at > self._ttl
            if refresh or stale:
                try:
                    self._prices = self._gateway.list_prices_by_lookup_keys(self._specs)
                except StripeUnavailable as exc:
                    raise BillingUnavailable("Billing is temporarily unavailable; try again.") from exc
                self._loaded_at = time.monotonic()
            return self._prices.get(lookup_key)


def _matches(spec: PriceSpec, price: dict[str, Any]) -> bool:
    recurring = price.get("recurring") or {}
    if spec.metered:
        # Its tiers come only on request: `paywire catalog check` compares them.
        return (
            recurring.get("usage_type") == "metered"
            and price.get("currency") == spec.currency
            and recurring.get("interval") == spec.interval
        )
    return (
        price.get("unit_amount") == spec.unit_amount
        and price.get("currency") == spec.currency
        and (recurring.get("interval") if recurring else None) == spec.interval
    )
