"""Every simulated resource registers its routes on import."""

from stripesim import pages  # noqa: F401  (hosted pages register their routes)
from stripesim.resources import (  # noqa: F401
    account,
    billing_meters,
    billing_portal,
    checkout_sessions,
    coupons,
    customers,
    events,
    invoices,
    payment_intents,
    payment_methods,
    prices,
    products,
    promotion_codes,
    sim_controls,
    subscription_schedules,
    subscriptions,
    tax_rates,
    test_clocks,
    webhook_endpoints,
)
