"""paywire: the Stripe billing layer for Python SaaS.

Use it as a service (`paywire serve`) or as a library: mount `paywire.router(settings)` in
an existing FastAPI app and ask `paywire.billing.entitlements.entitlement_for(...)` what a
user may do.
"""

from __future__ import annotations

__version__ = "0.1.0"
