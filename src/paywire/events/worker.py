"""The worker: claims stored events and processes each through its family's handler.

`run_worker(settings, stop_event)` is the loop `paywire serve` runs in a thread and
`paywire worker` runs alone. Any number of workers may share one database: claims are
exclusive and serialized per Stripe object (see `inbox`).

Processing one event is one transaction: the handler's mirror writes and the event's
`processed` mark commit together, so an event is either applied and marked, or neither
(then retried). A handler error is recorded on the event (`last_error`, `attempts`) and
the event comes back after an exponential backoff, until it is dead-lettered. Each event
attempt leaves exactly one log line: event id, type, object id, outcome, duration.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from paywire.catalog import Catalog, load_catalog
from paywire.config import Settings
from paywire.db.engine import make_engine, make_session_factory
from paywire.events import inbox
from paywire.events.bell import INBOX_BELL, InboxBell
from paywire.events.handlers import handler_for
from paywire.events.mirror import HandlerContext
from paywire.metrics import (
    INBOX_DEPTH,
    WEBHOOK_PROCESSING_SECONDS,
    WEBHOOKS_DEAD,
    WEBHOOKS_FAILED,
    WEBHOOKS_PROCESSED,
    WEBHOOKS_UNHANDLED,
)
from paywire.stripe import StripeGateway

log = logging.getLogger("paywire.events.worker")

# After an unexpected error in the loop itself (the database is down), wait this long.
LOOP_ERROR_PAUSE_SECONDS = 2.0


@dataclass(frozen=True)
class WorkerOptions:
    batch_size: int = 10
    lease_seconds: float = 300.0
    poll_interval: float = 1.0
    retry: inbox.RetryPolicy = field(default_factory=inbox.RetryPolicy)
    depth_interval: float = 5.0  # how often the inbox-depth gauge is refreshed

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerOptions:
        """The worker's knobs (PAYWIRE_WORKER_*)."""
        return cls(
            batch_size=settings.worker_batch_size,
            lease_seconds=settings.worker_lease_seconds,
            poll_interval=settings.worker_poll_interval,
            retry=inbox.RetryPolicy(
                base_seconds=settings.worker_retry_base,
                cap_seconds=settings.worker_retry_cap,
                max_attempts=settings.worker_max_attempts,
            ),
        )


@dataclass(frozen=True)
class Outcome:
    state: str  # processed | ignored | failed | dead | lost (the claim was taken over)
    note: str = ""


class Worker:
    """One claiming worker. `run_once` processes one batch; `run` loops until stopped."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        gateway: StripeGateway,
        catalog: Catalog,
        settings: Settings,
        options: WorkerOptions | None = None,
        worker_id: str | None = None,
        bell: InboxBell = INBOX_BELL,
    ) -> None:
        self.sessions = sessions
        self.gateway = gateway
        self.catalog = catalog
        self.settings = settings
        self.options = options or WorkerOptions.from_settings(settings)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.bell = bell
        self._depth_at = float("-inf")
        self._reclaimed_at = float("-inf")

    def run(self, stop_event: threading.Event) -> None:
        log.info("worker %s started", self.worker_id)
        while not stop_event.is_set():
            try:
                worked = self.run_once()
                self._update_depth()
            except Exception:
                log.exception("worker %s: loop error; pausing", self.worker_id)
                stop_event.wait(LOOP_ERROR_PAUSE_SECONDS)
                continue
            if worked == 0:
                # The receiver rings when an event arrives in this process; others poll.
                self.bell.wait(self.options.poll_interval)
        log.info("worker %s stopped", self.worker_id)

    def run_once(self) -> int:
        """Reclaim expired leases, claim a batch and process it; how many were claimed."""
        with self.sessions() as session:
            # Leases last minutes: looking for expired ones a few times per lease is enough,
            # and spares an idle worker a write on every poll.
            if time.monotonic() - self._reclaimed_at > self.options.lease_seconds / 4:
                inbox.reclaim_expired(session, policy=self.options.retry)
                self._reclaimed_at = time.monotonic()
            batch = inbox.claim_batch(
                session,
                worker_id=self.worker_id,
                limit=self.options.batch_size,
                lease_seconds=self.options.lease_seconds,
            )
        claimed_at = time.monotonic()
        for position, event in enumerate(batch):
            if time.monotonic() - claimed_at > self.options.lease_seconds / 3:
                self._renew([e.id for e in batch[position:]])
                claimed_at = time.monotonic()
            self.process(event)
        return len(batch)

    def process(self, event: inbox.ClaimedEvent) -> Outcome:
        started = time.perf_counter()
        try:
            outcome = self._apply(event)
        except Exception as exc:
            outcome = self._record_failure(event, exc)
        elapsed = time.perf_counter() - started
        WEBHOOK_PROCESSING_SECONDS.observe(elapsed)
        self._count(event, outcome)
        log.log(
            logging.WARNING if outcome.state in ("failed", "dead", "lost") else logging.INFO,
            "webhook event=%s type=%s object=%s outcome=%s attempt=%d duration_ms=%.1f note=%s",
            event.id,
            event.type,
            event.object_id,
            outcome.state,
            event.attempts,
            elapsed * 1000,
            json.dumps(outcome.note),
            extra={
                "event_id": event.id,
                "event_type": event.type,
                "object_id": event.object_id,
                "outcome": outcome.state,
                "attempt": event.attempts,
                "duration_ms": round(elapsed * 1000, 1),
            },
        )
        return outcome

    def _apply(self, event: inbox.ClaimedEvent) -> Outcome:
        try:
            return self._apply_once(event)
        except IntegrityError:
            # Two events about different objects can write one mirror row (a subscription,
            # from checkout.session.completed and customer.subscription.created): both saw no
            # row and both inserted. The row exists now, so running the handler again (it
            # re-reads and upserts) updates it instead of failing the event.
            return self._apply_once(event)

    def _apply_once(self, event: inbox.ClaimedEvent) -> Outcome:
        handler = handler_for(event.type)
        payload = json.loads(event.payload)
        with self.sessions() as session:
            if handler is None:
                state, note = "ignored", "no handler for this type"
            else:
                context = HandlerContext(session, self.gateway, self.catalog, self.settings)
                state, note = "processed", handler(context, payload)
            if not inbox.finish(session, event.id, worker_id=self.worker_id, state=state):
                session.rollback()
                return Outcome("lost", "the claim expired and was taken over; changes rolled back")
            session.commit()
        return Outcome(state, note)

    def _record_failure(self, event: inbox.ClaimedEvent, exc: Exception) -> Outcome:
        error = f"{type(exc).__name__}: {exc}"
        with self.sessions() as session:
            state = inbox.fail(session, event, worker_id=self.worker_id, error=error, policy=self.options.retry)
            session.commit()
        if state is None:
            return Outcome("lost", error)
        return Outcome(state, error)

    def _renew(self, ids: list[str]) -> None:
        with self.sessions() as session:
            inbox.renew_leases(session, ids, worker_id=self.worker_id, lease_seconds=self.options.lease_seconds)

    def _count(self, event: inbox.ClaimedEvent, outcome: Outcome) -> None:
        if outcome.state == "processed":
            WEBHOOKS_PROCESSED.labels(type=event.type).inc()
        elif outcome.state == "ignored":
            WEBHOOKS_UNHANDLED.labels(type=event.type).inc()
        elif outcome.state == "failed":
            WEBHOOKS_FAILED.labels(type=event.type).inc()
        elif outcome.state == "dead":
            WEBHOOKS_FAILED.labels(type=event.type).inc()
            WEBHOOKS_DEAD.labels(type=event.type).inc()

    def _update_depth(self) -> None:
        now = time.monotonic()
        if now - self._depth_at < self.options.depth_interval:
            return
        self._depth_at = now
        with self.sessions() as session:
            INBOX_DEPTH.set(inbox.waiting(inbox.depth(session)))


def build_worker(
    settings: Settings,
    *,
    engine: Engine | None = None,
    gateway: StripeGateway | None = None,
    catalog: Catalog | None = None,
    options: WorkerOptions | None = None,
) -> Worker:
    engine = engine or make_engine(settings.database_url)
    return Worker(
        sessions=make_session_factory(engine),
        gateway=gateway or StripeGateway.from_settings(settings),
        catalog=catalog or load_catalog(settings.catalog_path),
        settings=settings,
        options=options,
    )


def run_worker(
    settings: Settings,
    stop_event: threading.Event,
    *,
    engine: Engine | None = None,
    gateway: StripeGateway | None = None,
    catalog: Catalog | None = None,
    options: WorkerOptions | None = None,
) -> None:
    """Process the inbox until `stop_event` is set (blocking)."""
    own_engine = engine is None
    engine = engine or make_engine(settings.database_url)
    try:
        worker = build_worker(settings, engine=engine, gateway=gateway, catalog=catalog, options=options)
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
