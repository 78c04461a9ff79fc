"""The plan catalog (TOML) and keeping Stripe in line with it."""

from paywire.catalog.model import (
    INTERVALS,
    Catalog,
    MarketplaceProduct,
    Meter,
    OneTimeProduct,
    Plan,
    PriceSpec,
    PriceTier,
    ProductSpec,
    Tier,
    Usage,
    load_catalog,
    parse_catalog,
    platform_fee,
)

__all__ = [
    "INTERVALS",
    "Catalog",
    "MarketplaceProduct",
    "Meter",
    "OneTimeProduct",
    "Plan",
    "PriceSpec",
    "PriceTier",
    "ProductSpec",
    "Tier",
    "Usage",
    "load_catalog",
    "parse_catalog",
    "platform_fee",
]
