"""paywire: the Stripe billing layer for Python SaaS.

Use it as a service (`paywire serve`) or as a library: mount it in an existing FastAPI
app with `paywire.mount(app, settings)` (or `app.include_router(paywire.router(settings))`)
and ask `paywire.billing.entitlements.entitlement_for(...)` what a user may do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

    from paywire.config import Settings
    from paywire.web.context import PaywireContext

__version__ = "0.1.0"


def router(settings: Settings | None = None, *, context: PaywireContext | None = None) -> APIRouter:
    """paywire's routes for an existing FastAPI app (imported lazily: the CLI does not
    need the web stack)."""
    from paywire.web.app import router as build

    return build(settings, context=context)


def mount(app: FastAPI, settings: Settings | None = None, *, context: PaywireContext | None = None) -> PaywireContext:
    """Mount paywire in an existing FastAPI app: routes, error format and context."""
    from paywire.web.app import mount as do_mount

    return do_mount(app, settings, context=context)
