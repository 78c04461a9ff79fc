"""Running paywire: the HTTP service and the events worker, together or apart.

The worker is the events pipeline's `paywire.events.worker.run_worker(settings,
stop_event, ...)`: it runs until `stop_event` is set. `paywire serve` runs it next to the
API, by default in child processes (PAYWIRE_WORKER_MODE=process; PAYWIRE_WORKER_PROCESSES of
them, two on PostgreSQL and one on SQLite by default): re-reading objects and
writing the mirror is CPU work that, in a thread, would hold the GIL the webhook receiver
needs to acknowledge Stripe, and as a process it runs at a lower CPU priority
(PAYWIRE_WORKER_NICE), so a burst of webhooks is acknowledged first and worked off with the
CPU left over. The receiver wakes them through Unix sockets (`paywire.events.wakeup`).
PAYWIRE_WORKER_MODE=thread keeps one process (less memory, slower acknowledgements while the
worker is busy). `paywire worker` runs it alone.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from paywire.catalog import Catalog
from paywire.config import ConfigError, Settings, load_settings, require_service_settings
from paywire.stripe import StripeGateway

log = logging.getLogger("paywire.service")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# One worker per worker process by default, on both databases: its batches already make their
# Stripe re-reads concurrently (PAYWIRE_WORKER_REREAD_THREADS), and more workers in one process
# only share its GIL and split the batches (bench/webhooks: at 500 events/s on PostgreSQL,
# convergence p99 0.44-0.81 s with one, 0.67-1.12 s with four). On PostgreSQL more can be set
# (they claim with SKIP LOCKED and per-object locks); on SQLite they would queue on the lock.
DEFAULT_WORKER_THREADS = 1
# Worker processes `paywire serve` runs on PostgreSQL by default: two drain a backlog 20-35 %
# faster than one on a 2-core machine (bench/webhooks/workers.py: 777-893 against 647-657
# events/s), each with its own GIL; on SQLite one (writes queue on the database's one lock).
DEFAULT_POSTGRESQL_WORKER_PROCESSES = 2
# The worker processes after the first run at the lowest CPU priority: under a burst of webhooks
# they take almost no CPU from the receiver (nor make its database busier), so acknowledgements
# cost what they cost with one worker process; when the burst is over they drain with the first.
EXTRA_WORKER_NICE = 19
# Set by `paywire serve --workers N` for its server processes: where the workers listen
# (socket paths joined with os.pathsep).
WAKEUP_ENV = "PAYWIRE_WORKER_WAKEUP"


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


class WorkerProcesses:
    """`paywire serve`'s worker processes as one, for `/readyz`: `starting` until all run,
    `stopped` as soon as one is gone (the service no longer works as configured)."""

    def __init__(self, processes: list[WorkerProcess]) -> None:
        self.processes = processes

    def state(self) -> str:
        states = {process.state() for process in self.processes}
        for state in ("stopped", "starting"):
            if state in states:
                return state
        return "running"


class WorkerProcess:
    """The events worker in a child process, as `paywire serve` runs it, and what `/readyz`
    reports of it: `starting` until its workers are built and running (a fresh interpreter
    takes about a second to import and connect), then `running`, `stopped` once it is gone."""

    def __init__(self, process: BaseProcess, started: Any) -> None:
        self.process = process
        self._started = started  # a multiprocessing Event the child sets

    def state(self) -> str:
        if not self.process.is_alive():
            return "stopped"
        return "running" if self._started.is_set() else "starting"


def start_worker_process(
    settings: Settings, *, wakeup_address: str | None = None, nice: int | None = None
) -> WorkerProcess:
    """The events worker in a child process (a fresh interpreter: nothing of this process's
    threads or connections is inherited), at `nice` (default PAYWIRE_WORKER_NICE), until it is
    sent SIGTERM (`stop_worker_process`) or this process goes away."""
    spawn = multiprocessing.get_context("spawn")
    started = spawn.Event()
    nice = settings.worker_nice if nice is None else nice
    process = spawn.Process(
        target=_worker_process_main,
        args=(settings, wakeup_address, os.getpid(), started, nice),
        name="paywire-worker",
    )
    process.start()
    return WorkerProcess(process, started)


def stop_worker_process(worker: WorkerProcess, timeout: float = 15.0) -> None:
    """SIGTERM (the worker finishes the event in hand), then SIGKILL if it takes too long:
    an event cut short is taken over after its lease, never lost."""
    process = worker.process
    if process.is_alive():
        process.terminate()
    process.join(timeout)
    if process.is_alive():
        log.error("the worker process did not stop within %.0fs; killing it", timeout)
        process.kill()
        process.join(5)


def _worker_process_main(
    settings: Settings, wakeup_address: str | None, parent_pid: int, started: Any, nice: int
) -> None:
    import signal

    from paywire.db.engine import make_engine
    from paywire.events import wakeup
    from paywire.events.worker import Worker, build_worker

    logging.basicConfig(level=settings.log_level.upper(), format=LOG_FORMAT)
    if nice:
        os.nice(nice)
    stop = threading.Event()

    def on_signal(*_: Any) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    count = worker_threads(settings)
    bell = wakeup.WorkersBell(count)
    if wakeup_address:
        wakeup.relay(wakeup_address, bell)
    engine = make_engine(settings.database_url, pool_size=count + 2)

    def guarded(worker: Worker) -> None:
        try:
            worker.run(stop)
        except Exception:
            log.exception("the events worker stopped with an error")

    workers = [build_worker(settings, engine=engine) for _ in range(count)]
    for worker in workers:
        worker.bell = bell
    threads = [
        threading.Thread(target=guarded, args=(worker,), name=f"paywire-worker-{n}") for n, worker in enumerate(workers)
    ]
    for thread in threads:
        thread.start()
    started.set()
    # The main thread keeps the signals and watches the server: a worker outliving it
    # (the server was killed) would keep processing for no one. Every second it also leaves
    # the process's metrics where the server's /metrics reads them.
    while not stop.wait(1.0):
        if os.getppid() != parent_pid or not all(t.is_alive() for t in threads):
            stop.set()
        if wakeup_address:
            _write_metrics(wakeup.metrics_snapshot(wakeup_address))
    if wakeup_address:
        _write_metrics(wakeup.metrics_snapshot(wakeup_address))
    bell.ring_all()
    for thread in threads:
        thread.join(15)
    engine.dispose()
    if wakeup_address:
        wakeup.remove_address(wakeup_address)


def _write_metrics(path: Path) -> None:
    from paywire.metrics import write_snapshot

    try:
        write_snapshot(path)
    except OSError:
        log.warning("the worker's metrics could not be written to %s", path, exc_info=True)


def worker_processes(settings: Settings) -> int:
    """How many worker processes `paywire serve` runs (PAYWIRE_WORKER_PROCESSES)."""
    if settings.worker_processes is not None:
        return settings.worker_processes
    is_postgresql = settings.database_url.startswith("postgresql")
    return DEFAULT_POSTGRESQL_WORKER_PROCESSES if is_postgresql else 1


def worker_threads(settings: Settings) -> int:
    """How many workers `paywire serve`'s worker process runs (PAYWIRE_WORKER_THREADS)."""
    if settings.worker_threads is not None:
        return settings.worker_threads
    return DEFAULT_WORKER_THREADS


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
    from paywire.events import wakeup

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
                settings, wakeup_address=a, nice=None if n == 0 else max(settings.worker_nice, EXTRA_WORKER_NICE)
            )
            for n, a in enumerate(addresses)
        ]
    )
    stop = threading.Event()
    thread = None
    restore = _stop_on_sigterm()
    try:
        if workers > 1:
            _serve_processes(host, port, workers, addresses)
            return
        from paywire.events.receiver import wake_worker_at
        from paywire.web.app import create_app
        from paywire.web.context import PaywireContext

        context = PaywireContext.build(settings)
        app = create_app(settings, context=context)
        for address in addresses:
            wake_worker_at(address)
        if processes.processes:
            context.worker_state = processes.state
            context.worker_metrics = [wakeup.metrics_snapshot(a) for a in addresses]
        if in_thread:
            thread = start_worker_thread(
                settings, stop, engine=context.engine, gateway=context.gateway, catalog=context.catalog
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
    import signal

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
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, host=host, port=port, **UVICORN_OPTIONS))


def _serve_processes(host: str, port: int, workers: int, wakeup_addresses: list[str]) -> None:
    """`--workers N`: uvicorn's supervisor runs N server processes on one socket, each
    building its app with `app_from_environment`."""
    import uvicorn

    if wakeup_addresses:
        os.environ[WAKEUP_ENV] = os.pathsep.join(wakeup_addresses)
    uvicorn.run(
        "paywire.service:app_from_environment", host=host, port=port, workers=workers, factory=True, **UVICORN_OPTIONS
    )


def app_from_environment() -> Any:
    """The app of one of `paywire serve --workers N`'s server processes."""
    from paywire.events.receiver import wake_worker_at
    from paywire.web.app import create_app

    settings = load_settings()
    logging.basicConfig(level=settings.log_level.upper(), format=LOG_FORMAT)
    app = create_app(settings)
    for address in filter(None, os.environ.get(WAKEUP_ENV, "").split(os.pathsep)):
        wake_worker_at(address)
    return app


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


def _notify_when_started(server: object, worker_state: Callable[[], str], callback: Callable[[], None]) -> None:
    """Call `callback` once the server listens and the worker is no longer starting."""
    import time

    while not getattr(server, "started", False) or worker_state() == "starting":
        if getattr(server, "should_exit", False):
            return
        time.sleep(0.05)
    callback()
