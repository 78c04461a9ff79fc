"""Everything a request handler needs, built once per app from the settings.

Handlers (paywire's and the events pipeline's) get it with the `get_context` dependency,
which works both in paywire's own app and in a host app that mounted `paywire.router()`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from paywire.billing.prices import PriceBook
from paywire.catalog import Catalog, load_catalog
from paywire.config import Settings, require_auth_secret
from paywire.db.engine import make_engine, make_session_factory
from paywire.stripe import StripeGateway
from paywire.web.ratelimit import CheckoutLimiter, UserRateLimiter


@dataclass
class PaywireContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    gateway: StripeGateway
    catalog: Catalog
    prices: PriceBook
    auth_secret: str
    checkout_limiter: CheckoutLimiter
    api_limiter: UserRateLimiter
    # Set by `paywire serve` when it runs the events worker beside the app: the worker's
    # state (`starting`, `running`, `stopped`) for `/readyz`. None: no worker here to report.
    worker_state: Callable[[], str] | None = None
    # And where its worker processes leave their metrics, for `/metrics` (paywire.metrics).
    worker_metrics: list[Path] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        engine: Engine | None = None,
        gateway: StripeGateway | None = None,
        catalog: Catalog | None = None,
    ) -> PaywireContext:
        engine = engine or make_engine(settings.database_url)
        gateway = gateway or StripeGateway.from_settings(settings)
        catalog = catalog or load_catalog(settings.catalog_path)
        return cls(
            settings=settings,
            engine=engine,
            sessions=make_session_factory(engine),
            gateway=gateway,
            catalog=catalog,
            prices=PriceBook(catalog, gateway),
            auth_secret=require_auth_secret(settings),
            checkout_limiter=CheckoutLimiter(settings.checkout_rate_limit),
            api_limiter=UserRateLimiter(settings.api_rate_limit or settings.checkout_rate_limit),
        )


_installed: PaywireContext | None = None


def install(context: PaywireContext) -> None:
    """Make `context` the one used when the app has no `state.paywire` (a host app that
    only included paywire's router)."""
    global _installed
    _installed = context


def get_context(request: Request) -> PaywireContext:
    """FastAPI dependency: this app's paywire context."""
    found = getattr(request.app.state, "paywire", None)
    if isinstance(found, PaywireContext):
        return found
    if _installed is None:
        raise RuntimeError("paywire is not configured: use paywire.router(settings)")
    return _installed


Context = Annotated[PaywireContext, Depends(get_context)]
