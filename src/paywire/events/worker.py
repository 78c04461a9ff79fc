"""The worker: claims stored events and processes them through their families' handlers.

`run_worker(settings, stop_event)` is the loop `paywire serve` runs in a thread and
`paywire worker` runs alone. Any number of workers may share one database: claims are
exclusive and serialized per Stripe object (see `inbox`).

Coalescing: a claim takes all due events about an object together; they are handled as
one group, so a burst of `customer.subscription.updated` costs one re-read, and all their
marks commit in one transaction with the mirror's writes and the outbox's facts. An event
group is either applied and marked, or neither (then retried). A handler error is recorded
on each event of the group (`last_error`, `attempts`) and they come back after an
exponential backoff, until dead-lettered. Each event still leaves exactly one log line:
event id, type, object id, outcome, attempt, group size, duration.

After the events, the same loop delivers the outbox's facts to their reactions
(`paywire.reactions.dispatcher`), so a fact committed with the mirror is acted upon soon,
and at least once, by whichever worker claims it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from paywire.catalog import Catalog, load_catalog
from paywire.config import Settings
from paywire.db.engine import make_engine, make_session_factory
from paywire.events import crashpoints, inbox, outbox
from paywire.events.bell import INBOX_BELL, InboxBell
from paywire.events.handlers import Handler, handler_for
from paywire.events.handlers._event import EventGroup
from paywire.events.mirror import HandlerContext
from paywire.events.recovery import ScheduledRecovery
from paywire.metrics import (
    INBOX_DEPTH,
    OUTBOX_DEPTH,
    WEBHOOK_PROCESSING_SECONDS,
    WEBHOOKS_COALESCED,
    WEBHOOKS_DEAD,
    WEBHOOKS_FAILED,
    WEBHOOKS_PROCESSED,
    WEBHOOKS_UNHANDLED,
)
from paywire.reactions.dispatcher import Dispatcher
from paywire.reactions.email import sender_from_settings
from paywire.reactions.registry import Registry, default_registry
from paywire.stripe import StripeGateway

log = logging.getLogger("paywire.events.worker")

# After an unexpected error in the loop itself (the database is down), wait this long.
LOOP_ERROR_PAUSE_SECONDS = 2.0
# An idle worker looks for due reactions (retries, facts other processes recorded) this often.
REACTIONS_IDLE_INTERVAL = 0.5


@dataclass(frozen=True)
class WorkerOptions:
    batch_size: int = 10  # objects per claim; each object's due events come along
    lease_seconds: float = 300.0
    poll_interval: float = 1.0
    retry: inbox.RetryPolicy = field(default_factory=inbox.RetryPolicy)
    depth_interval: float = 5.0  # how often the inbox-depth gauge is refreshed
    max_events_per_claim: int | None = None  # default: batch_size * inbox.MAX_EVENTS_PER_OBJECT
    reaction_batch_size: int = 20
    reaction_lease_seconds: float = 120.0

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
            # A dead dispatcher's facts come back as a dead worker's events do.
            reaction_lease_seconds=settings.worker_lease_seconds,
        )


class PinnedSessions:
    """Sessions on one connection the worker holds for its life: each `with pinned() as
    session:` is one transaction on it. Checking a connection out of the pool for every
    group costs a `pool_pre_ping` round trip each time (a sixth of a busy worker's time on
    PostgreSQL); a held connection never does. After a loop error (the database restarted)
    `reset()` drops it and the next session connects afresh.

    On PostgreSQL the connection commits without waiting for the WAL flush
    (`synchronous_commit = off`, this connection only): an fsync per commit was most of a
    group's time. What the worker commits is derived from durable inputs (the inbox rows the
    receiver committed synchronously, and Stripe), so the few commits a database crash can
    lose only put their events back in the line, atomically with their mirror writes and
    facts; reactions key their effects by the fact (see `paywire.reactions.email`), so a
    fact recorded again after such a loss is still one fact to the outside."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None

    def __call__(self) -> Session:
        if self._connection is None or self._connection.closed or self._connection.invalidated:
            self._connection = self.engine.connect()
            if self._connection.dialect.name == "postgresql":
                self._connection.exec_driver_sql("SET synchronous_commit TO off")
                self._connection.commit()
        return Session(bind=self._connection, expire_on_commit=False)

    def reset(self) -> None:
        if self._connection is not None:
            try:
                if self._connection.dialect.name == "postgresql" and not self._connection.invalidated:
                    # The connection goes back to a pool other code shares (`paywire serve`).
                    self._connection.rollback()
                    self._connection.exec_driver_sql("RESET synchronous_commit")
                    self._connection.commit()
                self._connection.close()
            except Exception:
                log.debug("closing the worker's connection failed", exc_info=True)
            self._connection = None


@dataclass(frozen=True)
class Outcome:
    state: str  # processed | ignored | failed | dead | lost (the claim was taken over)
    note: str = ""


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
        bell: InboxBell = INBOX_BELL,
        reactions: Registry | None = None,
    ) -> None:
        bind = sessions.kw.get("bind")
        self.pinned = PinnedSessions(bind) if isinstance(bind, Engine) else None
        self.sessions: Callable[[], Session] = self.pinned or sessions
        self.gateway = gateway
        self.catalog = catalog
        self.settings = settings
        self.options = options or WorkerOptions.from_settings(settings)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.bell = bell
        self.dispatcher = Dispatcher(
            sessions=self.sessions,
            registry=reactions or default_registry(sender_from_settings(settings)),
            worker_id=self.worker_id,
            retry=self.options.retry,
            batch_size=self.options.reaction_batch_size,
            lease_seconds=self.options.reaction_lease_seconds,
        )
        self._depth_at = float("-inf")
        self._reclaimed_at = float("-inf")
        self._reactions_at = float("-inf")
        # Lost deliveries are found in /v1/events on a schedule shared by all workers.
        self.recovery = ScheduledRecovery(settings, sessions, gateway, holder=self.worker_id)

    def run(self, stop_event: threading.Event) -> None:
        log.info("worker %s started", self.worker_id)
        while not stop_event.is_set():
            try:
                worked = self.run_once()
                worked += self.react(eager=worked > 0)
                self._update_depth()
                self.recovery.tick()
            except Exception:
                log.exception("worker %s: loop error; pausing", self.worker_id)
                if self.pinned is not None:
                    self.pinned.reset()
                stop_event.wait(LOOP_ERROR_PAUSE_SECONDS)
                continue
            if worked == 0:
                # The receiver rings when an event arrives in this process; others poll.
                self.bell.wait(self.options.poll_interval)
        if self.pinned is not None:
            self.pinned.reset()
        log.info("worker %s stopped", self.worker_id)

    def run_once(self) -> int:
        """Reclaim expired leases, claim a batch and process it group by group; how many
        events were claimed."""
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
                max_events=self.options.max_events_per_claim,
            )
        groups = inbox.group_by_object(batch)
        claimed_at = time.monotonic()
        for position, group in enumerate(groups):
            if time.monotonic() - claimed_at > self.options.lease_seconds / 3:
                self._renew([e.id for g in groups[position:] for e in g])
                claimed_at = time.monotonic()
            self.process_group(group)
        return len(batch)

    def react(self, *, eager: bool = True) -> int:
        """Deliver due outbox facts to their reactions; how many were claimed. When idle,
        only every REACTIONS_IDLE_INTERVAL (a claim is a write)."""
        if not eager and time.monotonic() - self._reactions_at < REACTIONS_IDLE_INTERVAL:
            return 0
        self._reactions_at = time.monotonic()
        return self.dispatcher.dispatch_once()

    def process(self, event: inbox.ClaimedEvent) -> Outcome:
        return self.process_group([event])[event.id]

    def process_group(self, group: Sequence[inbox.ClaimedEvent]) -> dict[str, Outcome]:
        """Handle claimed events about one object together; an outcome per event."""
        started = time.perf_counter()
        try:
            outcomes = self._apply(group)
        except Exception as exc:
            outcomes = self._record_failure(group, exc)
        elapsed = time.perf_counter() - started
        if len(group) > 1:
            WEBHOOKS_COALESCED.inc(len(group) - 1)
        for event in group:
            outcome = outcomes[event.id]
            WEBHOOK_PROCESSING_SECONDS.observe(elapsed / len(group))
            self._count(event, outcome)
            log.log(
                logging.WARNING if outcome.state in ("failed", "dead", "lost") else logging.INFO,
                "webhook event=%s type=%s object=%s outcome=%s attempt=%d group=%d duration_ms=%.1f note=%s",
                event.id,
                event.type,
                event.object_id,
                outcome.state,
                event.attempts,
                len(group),
                elapsed * 1000,
                json.dumps(outcome.note),
                extra={
                    "event_id": event.id,
                    "event_type": event.type,
                    "object_id": event.object_id,
                    "outcome": outcome.state,
                    "attempt": event.attempts,
                    "group": len(group),
                    "duration_ms": round(elapsed * 1000, 1),
                },
            )
        return outcomes

    def _apply(self, group: Sequence[inbox.ClaimedEvent]) -> dict[str, Outcome]:
        try:
            return self._apply_once(group)
        except IntegrityError:
            # Two events about different objects can write one mirror row (a subscription,
            # from checkout.session.completed and customer.subscription.created): both saw no
            # row and both inserted. The row exists now, so running the handlers again (they
            # re-read and upsert) updates it instead of failing the events.
            return self._apply_once(group)

    def _apply_once(self, group: Sequence[inbox.ClaimedEvent]) -> dict[str, Outcome]:
        payloads = [json.loads(event.payload) for event in group]
        received = [e.received_at for e in group if e.received_at is not None]
        received_at = max(received) if received else None
        by_handler: dict[Handler, list[int]] = {}
        for index, event in enumerate(group):
            handler = handler_for(event.type)
            if handler is not None:
                by_handler.setdefault(handler, []).append(index)
        outcomes = {e.id: Outcome("ignored", "no handler for this type") for e in group}
        with self.sessions() as session:
            context = HandlerContext(session, self.gateway, self.catalog, self.settings, received_at=received_at)
            for handler, indexes in by_handler.items():
                events = EventGroup(tuple(payloads[i] for i in indexes), received_at)
                context.event_types = events.types
                context.event_id = group[indexes[0]].id
                note = handler(context, events)
                for i in indexes:
                    outcomes[group[i].id] = Outcome("processed", note)
            crashpoints.reached("mirror_written_before_commit")
            marks = [(event_id, outcome.state) for event_id, outcome in outcomes.items()]
            if not inbox.finish_group(session, marks, worker_id=self.worker_id):
                session.rollback()
                lost = Outcome("lost", "the claim expired and was taken over; changes rolled back")
                return {e.id: lost for e in group}
            session.commit()
        crashpoints.reached("events_committed")
        return outcomes

    def _record_failure(self, group: Sequence[inbox.ClaimedEvent], exc: Exception) -> dict[str, Outcome]:
        error = f"{type(exc).__name__}: {exc}"
        with self.sessions() as session:
            states = {
                event.id: inbox.fail(session, event, worker_id=self.worker_id, error=error, policy=self.options.retry)
                for event in group
            }
            session.commit()
        return {event_id: Outcome(state or "lost", error) for event_id, state in states.items()}

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
            OUTBOX_DEPTH.set(outbox.depth(session).get("pending", 0))


def build_worker(
    settings: Settings,
    *,
    engine: Engine | None = None,
    gateway: StripeGateway | None = None,
    catalog: Catalog | None = None,
    options: WorkerOptions | None = None,
    reactions: Registry | None = None,
) -> Worker:
    engine = engine or make_engine(settings.database_url)
    return Worker(
        sessions=make_session_factory(engine),
        gateway=gateway or StripeGateway.from_settings(settings),
        catalog=catalog or load_catalog(settings.catalog_path),
        settings=settings,
        options=options,
        reactions=reactions,
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
