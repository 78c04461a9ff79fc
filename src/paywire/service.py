"""Running paywire: the HTTP service and the events worker, together or apart.

The worker is the events pipeline's `paywire.events.worker.run_worker(settings,
stop_event)`: it runs until `stop_event` is set. `paywire serve` runs it in a thread next
to the API; `paywire worker` runs it alone.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable

from paywire.config import ConfigError, Settings, require_service_settings

log = logging.getLogger("paywire.service")

WORKER_MODULE = "paywire.events.worker"
RunWorker = Callable[[Settings, threading.Event], None]


def load_run_worker() -> RunWorker | None:
    """The events pipeline's worker entry point (None until that package provides it)."""
    try:
        module = importlib.import_module(WORKER_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != WORKER_MODULE:
            raise
        # PENDING: the events pipeline has not landed its worker yet.
        log.error("no events worker: %s is missing; webhooks will not be processed", WORKER_MODULE)
        return None
    run: RunWorker = module.run_worker
    return run


def start_worker_thread(settings: Settings, stop_event: threading.Event) -> threading.Thread | None:
    run = load_run_worker()
    if run is None:
        return None

    def guarded() -> None:
        try:
            run(settings, stop_event)
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
    with_worker: bool = True,
    on_started: Callable[[], None] | None = None,
) -> None:
    """Run the API (and the worker) until interrupted (Ctrl-C / SIGTERM)."""
    import uvicorn

    from paywire.web.app import create_app

    require_service_settings(settings)
    require_migrated(settings)
    app = create_app(settings)
    stop = threading.Event()
    worker = start_worker_thread(settings, stop) if with_worker else None
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

    require_stripe_key(settings)
    require_migrated(settings)
    run = load_run_worker()
    if run is None:
        raise ConfigError("paywire", f"the events worker ({WORKER_MODULE}) is not installed")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        run(settings, stop)
    except KeyboardInterrupt:
        stop.set()


def _notify_when_started(server: object, callback: Callable[[], None]) -> None:
    import time

    while not getattr(server, "started", False):
        if getattr(server, "should_exit", False):
            return
        time.sleep(0.05)
    callback()
