"""Running paywire: the HTTP service and the events worker, together or apart.

The worker is the events pipeline's `paywire.events.worker.run_worker(settings,
stop_event, ...)`: it runs until `stop_event` is set. `paywire serve` runs it in a thread next
to the API; `paywire worker` runs it alone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import Engine

from paywire.catalog import Catalog
from paywire.config import ConfigError, Settings, require_service_settings
from paywire.stripe import StripeGateway

log = logging.getLogger("paywire.service")


def start_worker_thread(
    settings: Settings,
    stop_event: threading.Event,
    *,
    engine: Engine | None = None,
    gateway: StripeGateway | None = None,
    catalog: Catalog | None = None,
) -> threading.Thread:
    """The events worker in a daemon thread of this process, until `stop_event` is set."""
    from paywire.events.worker import run_worker

    def guarded() -> None:
        try:
            run_worker(settings, stop_event, engine=engine, gateway=gateway, catalog=catalog)
        except Exception:
            log.exception("the events worker stopped with an error")

    thread = threading.Thread(target=guarded, name="paywire-worker", daemon=True)
    thread.start()
    return thread


def require_migrated(settings: Settings) -> None:
    from paywire.db.migrate import is_current

    if not is_current(settings.database_url):
        raise ConfigError(
            "DATABASE_URL",
            f"{settings.database_url_for_logs} is not migrated to the current schema; run `paywire migrate`",
        )


def serve(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    with_worker: bool | None = None,
    on_started: Callable[[], None] | None = None,
) -> None:
    """Run the API (and, unless disabled, the worker) until interrupted (Ctrl-C / SIGTERM).
    `with_worker` defaults to PAYWIRE_WORKER_ENABLED."""
    import uvicorn

    from paywire.web.app import create_app
    from paywire.web.context import PaywireContext

    require_service_settings(settings)
    require_migrated(settings)
    context = PaywireContext.build(settings)
    app = create_app(settings, context=context)
    stop = threading.Event()
    worker = None
    if settings.worker_enabled if with_worker is None else with_worker:
        worker = start_worker_thread(
            settings, stop, engine=context.engine, gateway=context.gateway, catalog=context.catalog
        )
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    if on_started is not None:
        threading.Thread(target=_notify_when_started, args=(server, on_started), daemon=True).start()
    try:
        server.run()
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl-C it handled; stopping is the normal way out
    finally:
        stop.set()
        if worker is not None:
            worker.join(timeout=15)


def run_worker_alone(settings: Settings) -> None:
    """`paywire worker`: process the inbox until interrupted."""
    import signal

    from paywire.config import require_stripe_key
    from paywire.events.worker import run_worker

    require_stripe_key(settings)
    require_migrated(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        run_worker(settings, stop)
    except KeyboardInterrupt:
        stop.set()


def _notify_when_started(server: object, callback: Callable[[], None]) -> None:
    import time

    while not getattr(server, "started", False):
        if getattr(server, "should_exit", False):
            return
        time.sleep(0.05)
    callback()
