"""How a route finds its app's `PaywireContext`: the `get_context` dependency.

paywire's own app and `paywire.mount` keep the context in `app.state.paywire`; a host app
that only included `paywire.router(settings)` gets it through the router's lifespan, whose
state Starlette hands to every request (`request.state.paywire`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from paywire.context import PaywireContext


def get_context(request: Request) -> PaywireContext:
    """FastAPI dependency: this app's paywire context."""
    for holder in (request.state, request.app.state):
        found = getattr(holder, "paywire", None)
        if isinstance(found, PaywireContext):
            return found
    raise RuntimeError("paywire is not configured: use paywire.mount(app) or paywire.router(settings)")


Context = Annotated[PaywireContext, Depends(get_context)]
