"""The plan catalog (TOML) and keeping Stripe in line with it."""

from paywire.catalog.model import (
    INTERVALS,
    Catalog,
    OneTimeProduct,
    Plan,
    PriceSpec,
    ProductSpec,
    load_catalog,
    parse_catalog,
)

__all__ = [
    "INTERVALS",
    "Catalog",
    "OneTimeProduct",
    "Plan",
    "PriceSpec",
    "ProductSpec",
    "load_catalog",
    "parse_catalog",
]
