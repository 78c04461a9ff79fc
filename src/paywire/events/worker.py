"""The worker: claims stored events and hands them to the batch processor, then delivers the
outbox's facts to their reactions.

`run_worker(settings, stop_event)` is the loop `paywire serve` runs (in child processes or a
thread) and `paywire worker` runs alone. Any number of workers may share one database: claims
are exclusive and serialized per Stripe object (see `inbox`). A claim takes all due events
about an object together; they are handled as one group (`paywire.events.batch`), so a burst
of `customer.subscription.updated` costs one re-read. Under a backlog a claim takes more
objects at once (up to PAYWIRE_WORKER_MAX_BATCH).

Beside the loop, threads of the same worker deliver the outbox's facts to their reactions
(`paywire.events.reactor`), so a fact committed with the mirror is acted upon soon, and at
least once, by whichever worker claims it, and a reaction's mail or request to Stripe never
holds back the next events. Each event leaves exactly one log line (`paywire.events.report`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from paywire.billing.disputes import watch_deadlines
from paywire.catalog import Catalog, load_catalog
from paywire.config import Settings
from paywire.db.engine import make_engine, make_session_factory
from paywire.db.leases import RetryPolicy
from paywire.events import inbox
from paywire.events.batch import BatchProcessor
from paywire.events.bell import InboxBell
from paywire.events.connection import PinnedSessions
from paywire.events.hold import HoldPolicy
from paywire.events.reactor import Reactor
from paywire.events.recovery import ScheduledRecovery
from paywire.metrics import INBOX_DEPTH, OUTBOX_DEPTH, WORKER_HELD_SECONDS
from paywire.outbox import store as outbox
from paywire.reactions.dispatcher import Dispatcher
from paywire.reactions.email import sender_from_settings
from paywire.reactions.registry import Registry, default_registry
from paywire.stripe import Priority, StripeGateway, at_priority

log = logging.getLogger("paywire.events.worker")

# After an unexpected error in the loop itself (the database is down), wait this long.
LOOP_ERROR_PAUSE_SECONDS = 2.0


@dataclass(frozen=True)
class WorkerOptions:
    batch_size: int = 10  # objects per claim; each object's due events come along
    # Under a backlog (a claim came back full) the next claim takes twice as many objects, up
    # to this; back to `batch_size` once the line is short. None: 5 times batch_size.
    max_batch_size: int | None = None
    reread_threads: int = 8  # concurrent re-reads from Stripe within a batch (1: one by one)
    lease_seconds: float = 300.0
    poll_interval: float = 1.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    depth_interval: float = 5.0  # how often the inbox-depth gauge is refreshed
    max_events_per_claim: int | None = None  # default: batch_size * inbox.MAX_EVENTS_PER_OBJECT
    reaction_batch_size: int = 20
    reaction_threads: int = 4  # facts delivered side by side, beside the loop
    reaction_lease_seconds: float = 120.0

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerOptions:
        """The worker's knobs (PAYWIRE_WORKER_*)."""
        return cls(
            batch_size=settings.worker_batch_size,
            max_batch_size=settings.worker_max_batch,
            reread_threads=settings.worker_reread_threads,
            reaction_threads=settings.worker_reaction_threads,
            lease_seconds=settings.worker_lease_seconds,
            poll_interval=settings.worker_poll_interval,
            retry=RetryPolicy(
                base_seconds=settings.worker_retry_base,
                cap_seconds=settings.worker_retry_cap,
                max_attempts=settings.worker_max_attempts,
            ),
            # A dead dispatcher's facts come back as a dead worker's events do.
            reaction_lease_seconds=settings.worker_lease_seconds,
        )


class Worker:
    """One claiming worker. `run_once` processes one claim; `run` loops until stopped."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        gateway: StripeGateway,
        catalog: Catalog,
        settings: Settings,
        options: WorkerOptions | None = None,
        worker_id: str | None = None,
        bell: InboxBell | None = None,
        reactions: Registry | None = None,
    ) -> None:
        bind = sessions.kw.get("bind")
        self.pinned = PinnedSessions(bind) if isinstance(bind, Engine) else None
        self.sessions: Callable[[], Session] = self.pinned or sessions
        self.settings = settings
        self.options = options or WorkerOptions.from_settings(settings)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # Rung by a receiver in this process; without one, the worker polls.
        self.bell = bell or InboxBell()
        self.batches = BatchProcessor(
            sessions=self.sessions,
            gateway=gateway,
            catalog=catalog,
            settings=settings,
            worker_id=self.worker_id,
            retry=self.options.retry,
            lease_seconds=self.options.lease_seconds,
            reread_threads=self.options.reread_threads,
        )
        # The reactor's threads have their own sessions: the held connection is the loop's.
        self.dispatcher = Dispatcher(
            sessions=sessions,
            registry=reactions or default_registry(sender_from_settings(settings), settings, catalog, gateway),
            worker_id=self.worker_id,
            retry=self.options.retry,
            batch_size=self.options.reaction_batch_size,
            lease_seconds=self.options.reaction_lease_seconds,
        )
        self.reactor = Reactor(self.dispatcher, held_for=self.bell.held_for, threads=self.options.reaction_threads)
        self._depth_at = float("-inf")
        self._reclaimed_at = float("-inf")
        self._disputes_at = float("-inf")
        self._claim_limit = self.options.batch_size
        self.hold_policy = HoldPolicy()
        # Lost deliveries are found in /v1/events on a schedule shared by all workers.
        self.recovery = ScheduledRecovery(settings, sessions, gateway, holder=self.worker_id, on_stored=self.bell.ring)

    def run(self, stop_event: threading.Event) -> None:
        log.info("worker %s started", self.worker_id)
        # Its requests to Stripe come after a person's, before background work (paywire.stripe.budget).
        reactions = threading.Event()
        self.reactor.start(reactions)
        try:
            with at_priority(Priority.MIRROR):
                self._loop(stop_event)
        finally:
            reactions.set()
            self.reactor.join()
        log.info("worker %s stopped", self.worker_id)

    def _loop(self, stop_event: threading.Event) -> None:
        try:
            while not stop_event.is_set():
                pause = self.hold_policy.pause(self.bell.held_for(), time.monotonic())
                if pause:
                    WORKER_HELD_SECONDS.inc(pause)
                    stop_event.wait(pause)
                    continue
                try:
                    worked = self.run_once()
                    self.react()
                    self._update_depth()
                    with at_priority(Priority.BACKGROUND):
                        self.recovery.tick()
                    self.watch_disputes()
                except Exception:
                    log.exception("worker %s: loop error; pausing", self.worker_id)
                    self.batches.forget()
                    if self.pinned is not None:
                        self.pinned.reset()
                    stop_event.wait(LOOP_ERROR_PAUSE_SECONDS)
                    continue
                if worked == 0:
                    # The receiver rings when an event arrives in this process; others poll.
                    self.bell.wait(self.options.poll_interval)
        finally:
            if self.pinned is not None:
                self.pinned.reset()
            self.batches.close()

    def run_once(self) -> int:
        """Reclaim expired leases, claim a batch and process it; how many events were claimed."""
        limit = self._claim_limit
        with self.sessions() as session:
            # Leases last minutes: looking for expired ones a few times per lease is enough,
            # and spares an idle worker a write on every poll.
            if time.monotonic() - self._reclaimed_at > self.options.lease_seconds / 4:
                inbox.reclaim_expired(session, policy=self.options.retry)
                self._reclaimed_at = time.monotonic()
            batch = inbox.claim_batch(
                session,
                worker_id=self.worker_id,
                limit=limit,
                lease_seconds=self.options.lease_seconds,
                max_events=self.options.max_events_per_claim,
            )
        groups = inbox.group_by_object(batch)
        # A full claim means a line is waiting: take more objects at once next time (fewer
        # claims and transactions per event, more re-reads in parallel); a short one, fewer.
        ceiling = self.options.max_batch_size or 5 * self.options.batch_size
        full = len(groups) >= limit
        self._claim_limit = min(ceiling, limit * 2) if full else self.options.batch_size
        if groups:
            self.batches.process(groups)
        return len(batch)

    def react(self) -> None:
        """Facts this worker just recorded go to the reactor's threads at once."""
        if self.batches.facts_recorded:
            self.batches.facts_recorded = False
            self.reactor.nudge()

    def watch_disputes(self) -> None:
        """Every `PAYWIRE_DISPUTE_WATCH_INTERVAL` seconds: the disputes' deadline reminders now
        due (`paywire.billing.disputes`), delivered by the reactor at once."""
        if time.monotonic() - self._disputes_at < self.settings.dispute_watch_interval:
            return
        self._disputes_at = time.monotonic()
        with self.sessions() as session:
            if watch_deadlines(session):
                self.reactor.nudge()

    def _update_depth(self) -> None:
        now = time.monotonic()
        if now - self._depth_at < self.options.depth_interval:
            return
        self._depth_at = now
        with self.sessions() as session:
            INBOX_DEPTH.set(inbox.waiting(inbox.depth(session)))
            OUTBOX_DEPTH.set(outbox.depth(session).get("pending", 0))


def build_worker(
    settings: Settings,
    *,
    engine: Engine | None = None,
    gateway: StripeGateway | None = None,
    catalog: Catalog | None = None,
    options: WorkerOptions | None = None,
    reactions: Registry | None = None,
    bell: InboxBell | None = None,
) -> Worker:
    engine = engine or make_engine(settings.database_url)
    return Worker(
        sessions=make_session_factory(engine),
        gateway=gateway or StripeGateway.from_settings(settings),
        catalog=catalog or load_catalog(settings.catalog_path),
        settings=settings,
        options=options,
        reactions=reactions,
        bell=bell,
    )


def run_worker(
    settings: Settings,
    stop_event: threading.Event,
    *,
    engine: Engine | None = None,
    gateway: StripeGateway | None = None,
    catalog: Catalog | None = None,
    options: WorkerOptions | None = None,
    bell: InboxBell | None = None,
) -> None:
    """Process the inbox until `stop_event` is set (blocking)."""
    own_engine = engine is None
    engine = engine or make_engine(settings.database_url)
    try:
        worker = build_worker(settings, engine=engine, gateway=gateway, catalog=catalog, options=options, bell=bell)
        worker.run(stop_event)
    finally:
        if own_engine:
            engine.dispose()


class WorkerThread:
    """A worker in a daemon thread of this process (`paywire serve`, tests)."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=worker.run, args=(self.stop_event,), name="paywire-worker", daemon=True)

    def start(self) -> WorkerThread:
        self.thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self.stop_event.set()
        self.worker.bell.ring()
        self.thread.join(timeout)
