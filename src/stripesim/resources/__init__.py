"""Every simulated resource registers its routes on import."""

from stripesim.resources import (  # noqa: F401
    customers,
    events,
    prices,
    products,
    sim_controls,
    test_clocks,
    webhook_endpoints,
)
