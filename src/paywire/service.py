"""`paywire serve`: the HTTP service (API, webhook receiver, pages) with the events worker
beside it (`paywire.workers`), in one process or several; and the checks it starts with.

PAYWIRE_WORKER_MODE=thread keeps one process (less memory, slower acknowledgements while the
worker is busy); by default the worker runs in child processes (see `paywire.workers`).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn

from paywire.config import (
    ConfigError,
    Settings,
    load_settings,
    require_auth_secret,
    require_stripe_key,
    require_webhook_secrets,
)
from paywire.context import PaywireContext
from paywire.db.engine import require_reachable_database
from paywire.db.migrate import require_migrated
from paywire.events import wakeup
from paywire.logs import configure as configure_logging
from paywire.web.app import create_app
from paywire.workers import (
    EXTRA_WORKER_NICE,
    WorkerProcesses,
    start_worker_process,
    start_worker_thread,
    stop_worker_process,
    worker_processes,
)

log = logging.getLogger("paywire.service")

# Set by `paywire serve --workers N` for its server processes: where the workers listen
# (socket paths joined with os.pathsep).
WAKEUP_ENV = "PAYWIRE_WORKER_WAKEUP"


def require_service_settings(settings: Settings) -> None:
    """Everything `paywire serve` needs before it accepts a request."""
    require_stripe_key(settings)
    require_webhook_secrets(settings)
    require_auth_secret(settings)
    require_reachable_database(settings)


def serve(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    with_worker: bool | None = None,
    workers: int = 1,
    on_started: Callable[[], None] | None = None,
) -> None:
    """Run the API (and, unless disabled, the worker) until interrupted (Ctrl-C / SIGTERM).
    `with_worker` defaults to PAYWIRE_WORKER_ENABLED. `workers` > 1 runs that many server
    processes on the port (each reads the configuration from the environment, so `settings`
    must be what the environment says) and the worker always as a process."""
    require_service_settings(settings)
    require_migrated(settings)
    if workers < 1:
        raise ConfigError("--workers", "must be at least 1")
    if workers > 1 and settings != load_settings():
        raise ConfigError("--workers", "several server processes need their configuration in the environment")
    with_worker = settings.worker_enabled if with_worker is None else with_worker
    in_thread = with_worker and settings.worker_mode == "thread" and workers == 1
    count = worker_processes(settings) if with_worker and not in_thread else 0
    addresses = [wakeup.new_address() for _ in range(count)]
    processes = WorkerProcesses(
        [
            start_worker_process(
                settings,
                wakeup_address=a,
                nice=None if n == 0 else max(settings.worker_nice, EXTRA_WORKER_NICE),
                with_sender=n == 0,  # one usage sender is enough (more would take turns)
            )
            for n, a in enumerate(addresses)
        ]
    )
    stop = threading.Event()
    thread = None
    restore = _stop_on_sigterm()
    try:
        if workers > 1:
            if on_started is not None:
                on_started()  # every check passed; uvicorn's supervisor takes it from here
            _serve_processes(host, port, workers, addresses, settings.server_healthcheck_timeout)
            return
        context = PaywireContext.build(settings)
        app = create_app(settings, context=context)
        for address in addresses:
            context.receiver.wake_worker_at(address)
        if processes.processes:
            context.worker_state = processes.state
            context.worker_metrics = [wakeup.metrics_snapshot(a) for a in addresses]
        if in_thread:
            thread = start_worker_thread(
                settings,
                stop,
                engine=context.engine,
                gateway=context.gateway,
                catalog=context.catalog,
                bell=context.receiver.bell,
            )
            context.worker_state = lambda: "running" if thread is not None and thread.is_alive() else "stopped"
        server = uvicorn_server(app, host, port)
        if on_started is not None:
            worker_state = context.worker_state or (lambda: "running")
            threading.Thread(target=_notify_when_started, args=(server, worker_state, on_started), daemon=True).start()
        server.run()
    except (KeyboardInterrupt, Stopped):
        pass  # uvicorn re-raises the signal it handled; stopping is the normal way out
    finally:
        restore()
        stop.set()
        if thread is not None:
            thread.join(timeout=15)
        for process in processes.processes:
            process.process.terminate()  # all stop at once, then each is waited for
        for process in processes.processes:
            stop_worker_process(process)
        for address in addresses:
            wakeup.remove_address(address)


class Stopped(Exception):
    """SIGTERM, re-raised by uvicorn once it has shut down gracefully."""


def _stop_on_sigterm() -> Callable[[], None]:
    """Make SIGTERM end `serve` through its `finally` (stopping the worker process) rather
    than kill this process where uvicorn re-raises it. Returns what restores the handler."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def raise_stopped(*_: Any) -> None:
        raise Stopped

    previous = signal.signal(signal.SIGTERM, raise_stopped)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


# uvicorn as paywire runs it: uvloop and httptools (uvicorn[standard]), and no access log
# (paywire logs what matters itself; a line per webhook would cost more than the webhook).
UVICORN_OPTIONS: dict[str, Any] = {
    "loop": "uvloop",
    "http": "httptools",
    "log_level": "warning",
    "access_log": False,
    "lifespan": "on",
}


def uvicorn_server(app: Any, host: str, port: int) -> Any:
    return uvicorn.Server(uvicorn.Config(app, host=host, port=port, **UVICORN_OPTIONS))


def _serve_processes(host: str, port: int, workers: int, wakeup_addresses: list[str], healthcheck_timeout: int) -> None:
    """`--workers N`: uvicorn's supervisor runs N server processes on one socket, each
    building its app with `app_from_environment`, and replaces one that leaves its liveness
    ping unanswered for `healthcheck_timeout` seconds (PAYWIRE_SERVER_HEALTHCHECK_TIMEOUT)."""
    if wakeup_addresses:
        os.environ[WAKEUP_ENV] = os.pathsep.join(wakeup_addresses)
    uvicorn.run(
        "paywire.service:app_from_environment",
        host=host,
        port=port,
        workers=workers,
        factory=True,
        timeout_worker_healthcheck=healthcheck_timeout,
        **UVICORN_OPTIONS,
    )


def app_from_environment() -> Any:
    """The app of one of `paywire serve --workers N`'s server processes."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    context = PaywireContext.build(settings)
    for address in filter(None, os.environ.get(WAKEUP_ENV, "").split(os.pathsep)):
        context.receiver.wake_worker_at(address)
    return create_app(settings, context=context)


def _notify_when_started(server: object, worker_state: Callable[[], str], callback: Callable[[], None]) -> None:
    """Call `callback` once the server listens and the worker is no longer starting."""
    while not getattr(server, "started", False) or worker_state() == "starting":
        if getattr(server, "should_exit", False):
            return
        time.sleep(0.05)
    callback()
