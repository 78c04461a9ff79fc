"""The wiring of one paywire app, built once from the settings and passed to whoever needs it.

The web routes get it through a FastAPI dependency (`paywire.web.context.get_context`), the
webhook endpoint and the worker beside the app are handed their parts; nothing reaches for
it through a module global, so two apps in one process (tests, a host app with two mounts)
never share state by accident.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from paywire.billing.prices import PriceBook
from paywire.catalog import Catalog, load_catalog
from paywire.config import Settings, require_auth_secret
from paywire.db.engine import make_engine, make_session_factory
from paywire.events.receiver import BURST_BATCH, WebhookReceiver
from paywire.ratelimit import CheckoutLimiter, UserRateLimiter
from paywire.stripe import StripeGateway
from paywire.usage import UsageRecorder
from paywire.usage import use as use_recorder


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
    # Stores verified webhooks and wakes the workers (its bell rings a worker thread here).
    receiver: WebhookReceiver
    # Records usage (paywire.usage): `POST /api/usage`, and `paywire.usage.record` in process.
    usage: UsageRecorder
    # Set by `paywire serve` when it runs the events worker beside the app: the worker's
    # state (`starting`, `running`, `stopped`) for `/readyz`. None: no worker here to report.
    worker_state: Callable[[], str] | None = None
    # And where its worker processes leave their metrics, for `/metrics` (paywire.metrics).
    worker_metrics: list[Path] = field(default_factory=list)
    # Whether `build` made the engine (and so closes it): a host's own engine is the host's.
    owns_engine: bool = False

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        engine: Engine | None = None,
        gateway: StripeGateway | None = None,
        catalog: Catalog | None = None,
    ) -> PaywireContext:
        owns_engine = engine is None
        engine = engine or make_engine(settings.database_url)
        gateway = gateway or StripeGateway.from_settings(settings)
        catalog = catalog or load_catalog(settings.catalog_path)
        usage = UsageRecorder(engine, catalog, settings, gateway=gateway)
        # `paywire.usage.record(...)` in this process records through the app built last.
        use_recorder(usage)
        receiver = WebhookReceiver(settings, engine)
        # A burst of usage (many calls in one commit) asks the worker processes, where the usage
        # sender runs too, to hold off as a burst of webhooks does.
        usage.wake_on_store(lambda calls: receiver.ring_workers(calls) if calls >= BURST_BATCH else None)
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
            receiver=receiver,
            usage=usage,
            owns_engine=owns_engine,
        )

    def close(self) -> None:
        """At shutdown, once requests have finished: the webhook and usage writers store what
        they hold, and an engine this context made gives back its connections (a PostgreSQL
        server's are counted: an app stopped and started again must not keep its old ones)."""
        self.receiver.close()
        self.usage.close()
        if self.owns_engine:
            self.engine.dispose()
