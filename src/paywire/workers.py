"""The events worker as `paywire serve` and `paywire worker` run it: in a thread of this process,
in child processes, or alone.

By default `paywire serve` runs it in child processes (PAYWIRE_WORKER_MODE=process;
PAYWIRE_WORKER_PROCESSES of them, two on PostgreSQL and one on SQLite): re-reading objects and
writing the mirror is CPU work that, in a thread, would hold the GIL the webhook receiver needs
to acknowledge Stripe, and as a process it runs at a lower CPU priority (PAYWIRE_WORKER_NICE), so
a burst of webhooks is acknowledged first and worked off with the CPU left over. The receiver
wakes them through Unix sockets (`paywire.events.wakeup`). This module does not import the web
stack: a worker process starts without it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from paywire.catalog import Catalog
from paywire.config import Settings, require_stripe_key
from paywire.db.engine import make_engine
from paywire.db.migrate import require_migrated
from paywire.events import wakeup
from paywire.events.bell import InboxBell
from paywire.events.worker import Worker, build_worker, run_worker
from paywire.logs import configure as configure_logging
from paywire.metrics import write_snapshot
from paywire.stripe import StripeGateway
from paywire.usage.sender import start_sender_thread

log = logging.getLogger("paywire.workers")

# One worker per worker process by default, on both databases: its batches already make their
# Stripe re-reads concurrently (PAYWIRE_WORKER_REREAD_THREADS), and more workers in one process
# only share its GIL and split the batches (measured in bench/README.md). On PostgreSQL more can
# be set (they claim with SKIP LOCKED and per-object locks); on SQLite they would queue on the lock.
DEFAULT_WORKER_THREADS = 1
# Worker processes `paywire serve` runs on PostgreSQL by default: two drain a backlog faster than
# one (each with its own GIL; bench/README.md); on SQLite one (writes queue on its one lock).
DEFAULT_POSTGRESQL_WORKER_PROCESSES = 2
# The worker processes after the first run at the lowest CPU priority: under a burst of webhooks
# they take almost no CPU from the receiver (nor make its database busier), so acknowledgements
# cost what they cost with one worker process; when the burst is over they drain with the first.
EXTRA_WORKER_NICE = 19


def start_worker_thread(
    settings: Settings,
    stop_event: threading.Event,
    *,
    engine: Engine | None = None,
    gateway: StripeGateway | None = None,
    catalog: Catalog | None = None,
    bell: InboxBell | None = None,
) -> threading.Thread:
    """The events worker in a daemon thread of this process, until `stop_event` is set;
    `bell`: the receiver's in this process (`PaywireContext.receiver.bell`), to be woken at once."""

    def guarded() -> None:
        try:
            run_worker(settings, stop_event, engine=engine, gateway=gateway, catalog=catalog, bell=bell)
        except Exception:
            log.exception("the events worker stopped with an error")

    thread = threading.Thread(target=guarded, name="paywire-worker", daemon=True)
    thread.start()
    if settings.usage_sender:
        held_for = bell.held_for if bell is not None else None
        start_sender_thread(settings, stop_event, gateway=gateway, catalog=catalog, held_for=held_for)
    return thread


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
    settings: Settings, *, wakeup_address: str | None = None, nice: int | None = None, with_sender: bool = True
) -> WorkerProcess:
    """The events worker in a child process (a fresh interpreter: nothing of this process's
    threads or connections is inherited), at `nice` (default PAYWIRE_WORKER_NICE), until it is
    sent SIGTERM (`stop_worker_process`) or this process goes away. `with_sender`: the usage
    sender runs beside it (if PAYWIRE_USAGE_SENDER)."""
    spawn = multiprocessing.get_context("spawn")
    started = spawn.Event()
    nice = settings.worker_nice if nice is None else nice
    process = spawn.Process(
        target=_worker_process_main,
        args=(settings, wakeup_address, os.getpid(), started, nice, with_sender),
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
    settings: Settings, wakeup_address: str | None, parent_pid: int, started: Any, nice: int, with_sender: bool = True
) -> None:
    configure_logging(settings.log_level, settings.log_format)
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

    workers = [build_worker(settings, engine=engine, bell=bell) for _ in range(count)]
    threads = [
        threading.Thread(target=guarded, args=(worker,), name=f"paywire-worker-{n}") for n, worker in enumerate(workers)
    ]
    for thread in threads:
        thread.start()
    if with_sender and settings.usage_sender:
        _, sender_thread = start_sender_thread(settings, stop, engine=engine, held_for=bell.held_for)
        threads.append(sender_thread)
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


def run_worker_alone(settings: Settings) -> None:
    """`paywire worker`: process the inbox until interrupted."""
    require_stripe_key(settings)
    require_migrated(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if settings.usage_sender:
        start_sender_thread(settings, stop)
    try:
        run_worker(settings, stop)
    except KeyboardInterrupt:
        stop.set()
