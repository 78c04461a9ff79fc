"""Every simulated resource registers its routes on import."""

from stripesim.resources import (  # noqa: F401
    billing_meters,
    coupons,
    customers,
    events,
    prices,
    products,
    promotion_codes,
    sim_controls,
    tax_rates,
    test_clocks,
    webhook_endpoints,
)
