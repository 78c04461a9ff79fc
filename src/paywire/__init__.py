"""paywire: the Stripe billing layer for Python SaaS.

Use it as a service (`paywire serve`) or as a library: mount it in an existing FastAPI
app with `paywire.mount(app, settings)` (or `app.include_router(paywire.router(settings))`)
and ask `paywire.billing.entitlements.entitlement_for(...)` what a user may do.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

__all__ = ["mount", "router"]


def __getattr__(name: str) -> Any:
    """`paywire.mount` and `paywire.router`, loaded on first use: importing any part of
    paywire (a worker process, the CLI, the mirror) must not pull in the web stack."""
    if name in __all__:
        return getattr(importlib.import_module("paywire.web.app"), name)
    raise AttributeError(f"module 'paywire' has no attribute {name!r}")
