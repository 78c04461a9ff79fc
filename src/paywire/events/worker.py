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
event id, type, object id, outcome, attempt, group size, batch size, duration.

Batches: a claim takes the due events of several objects (more under a backlog, up to
PAYWIRE_WORKER_MAX_BATCH). Their re-reads from Stripe are made first, concurrently, on a
small pool (PAYWIRE_WORKER_REREAD_THREADS; `paywire.events.reads`), outside any transaction;
then all the groups are applied and marked in ONE transaction, in an order that makes two
workers' batches take the rows they share in the same order (no deadlocks). If anything in
that transaction fails (a handler error, a lost claim, a database error), it is rolled back
as a whole and the batch is done again group by group, each group in its own transaction as
above, with the reads already made: so one bad group costs its neighbours a retry of their
database work, never a second read, and never their outcome.

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from paywire.catalog import Catalog, load_catalog
from paywire.config import Settings
from paywire.db.engine import make_engine, make_session_factory
from paywire.db.models import Invoice, Subscription
from paywire.events import crashpoints, inbox, outbox
from paywire.events.bell import INBOX_BELL, InboxBell
from paywire.events.handlers import Handler, foreseen_reads, handler_for
from paywire.events.handlers._event import EventGroup
from paywire.events.mirror import HandlerContext, covers
from paywire.events.reads import BatchReads, CachingGateway, ReadKey
from paywire.events.recovery import ScheduledRecovery
from paywire.metrics import (
    INBOX_DEPTH,
    OUTBOX_DEPTH,
    WEBHOOK_BATCH_FALLBACKS,
    WEBHOOK_PROCESSING_SECONDS,
    WEBHOOK_REREADS,
    WEBHOOKS_COALESCED,
    WEBHOOKS_DEAD,
    WEBHOOKS_FAILED,
    WEBHOOKS_PROCESSED,
    WEBHOOKS_UNHANDLED,
    WORKER_HELD_SECONDS,
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


class HoldPolicy:
    """How a worker obeys the receiver's holds (`InboxBell.hold`: a burst of webhooks is being
    acknowledged, and every claim would take CPU and, on SQLite, the database lock from it).
    A worker pauses between claims while held, never in the middle of a batch, and at most
    `max_seconds` in a row; then it works at least `break_seconds` whatever the receiver says,
    so a burst that never ends still leaves the mirror a share of the time."""

    def __init__(self, max_seconds: float = 2.0, break_seconds: float = 0.5, step: float = 0.05) -> None:
        self.max_seconds = max_seconds
        self.break_seconds = break_seconds
        self.step = step
        self._since: float | None = None  # when the current run of holds began

    def pause(self, held_for: float, now: float) -> float:
        """How long to wait before the next claim (0: claim now)."""
        if held_for <= 0:
            self._since = None
            return 0.0
        if self._since is None or now - self._since >= self.max_seconds + self.break_seconds:
            self._since = now
        if now - self._since >= self.max_seconds:
            return 0.0  # held long enough in a row: a break to work, holds or not
        return min(held_for, self.step)


@dataclass(frozen=True)
class WorkerOptions:
    batch_size: int = 10  # objects per claim; each object's due events come along
    # Under a backlog (a claim came back full) the next claim takes twice as many objects, up
    # to this; back to `batch_size` once the line is short. None: 5 times batch_size.
    max_batch_size: int | None = None
    reread_threads: int = 8  # concurrent re-reads from Stripe within a batch (1: one by one)
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
            max_batch_size=settings.worker_max_batch,
            reread_threads=settings.worker_reread_threads,
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


@dataclass
class _Group:
    """One claimed group, ready to apply: its events parsed, its handlers, what it will read."""

    events: Sequence[inbox.ClaimedEvent]
    payloads: list[dict[str, Any]]
    received_at: datetime | None
    by_handler: dict[Handler, list[int]]
    reads: list[ReadKey]

    @property
    def lock_order(self) -> str:
        """Where this group stands in its batch's transaction: by the first row it will
        write that another object's group may write too (a checkout session and its
        subscription's own events both write the subscription), else by its object. Every
        batch takes shared rows in this one order, so two concurrent batches cannot wait
        for each other in a circle."""
        for method, object_id, _ in self.reads:
            if method == "retrieve_subscription":
                return object_id
        return self.events[0].object_id or self.events[0].id


# Reads written under the version rule, and their tables (for `mirror.covers`).
VERSIONED_READS = {"retrieve_subscription": "subscriptions", "retrieve_invoice": "invoices"}


class _BatchFailed(Exception):
    """The batch's one transaction could not be committed: redo it group by group."""


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
        self._claim_limit = self.options.batch_size
        self._executor: ThreadPoolExecutor | None = None
        self.hold_policy = HoldPolicy()
        self.known_facts = outbox.KnownFacts()
        self._facts_recorded = False
        # Lost deliveries are found in /v1/events on a schedule shared by all workers.
        self.recovery = ScheduledRecovery(settings, sessions, gateway, holder=self.worker_id)

    def run(self, stop_event: threading.Event) -> None:
        log.info("worker %s started", self.worker_id)
        try:
            while not stop_event.is_set():
                pause = self.hold_policy.pause(self.bell.held_for(), time.monotonic())
                if pause:
                    WORKER_HELD_SECONDS.inc(pause)
                    stop_event.wait(pause)
                    continue
                try:
                    worked = self.run_once()
                    # Facts this worker just recorded are delivered at once; others' (and
                    # retries) are looked for every REACTIONS_IDLE_INTERVAL.
                    worked += self.react(eager=self._facts_recorded)
                    self._facts_recorded = False
                    self._update_depth()
                    self.recovery.tick()
                except Exception:
                    log.exception("worker %s: loop error; pausing", self.worker_id)
                    self.known_facts.clear()  # the database may have lost recent commits
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
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
        log.info("worker %s stopped", self.worker_id)

    def run_once(self) -> int:
        """Reclaim expired leases, claim a batch and process it (one transaction, see the
        module docstring); how many events were claimed."""
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
            self.process_batch(groups)
        return len(batch)

    def process_batch(self, groups: Sequence[Sequence[inbox.ClaimedEvent]]) -> dict[str, Outcome]:
        """Apply claimed groups (each about one object): their re-reads first, concurrently,
        then one transaction for all; group by group if that fails. An outcome per event."""
        started = time.perf_counter()
        prepared = sorted((self._prepare(group) for group in groups), key=lambda g: g.lock_order)
        reads = BatchReads(self.gateway, self._reread_pool())
        outcomes: dict[str, Outcome] = {}
        if len(prepared) > 1:
            try:
                outcomes = self._apply_batch(prepared, reads)
            except Exception as exc:
                WEBHOOK_BATCH_FALLBACKS.inc()
                log.info("worker %s: batch of %d groups redone group by group: %r", self.worker_id, len(prepared), exc)
                outcomes = {}
        if not outcomes:
            claimed_at = time.monotonic()
            for position, group in enumerate(prepared):
                if time.monotonic() - claimed_at > self.options.lease_seconds / 3:
                    self._renew([e.id for g in prepared[position:] for e in g.events])
                    claimed_at = time.monotonic()
                outcomes.update(self._apply_alone(group, reads))
        WEBHOOK_REREADS.inc(reads.made)
        elapsed = time.perf_counter() - started
        for group in prepared:
            self._report(group.events, outcomes, elapsed, batch=len(prepared))
        return outcomes

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
        """Handle claimed events about one object together, in their own transaction; an
        outcome per event."""
        started = time.perf_counter()
        prepared = self._prepare(group)
        reads = BatchReads(self.gateway, self._reread_pool())
        outcomes = self._apply_alone(prepared, reads)
        WEBHOOK_REREADS.inc(reads.made)
        self._report(group, outcomes, time.perf_counter() - started, batch=1)
        return outcomes

    def _report(
        self, group: Sequence[inbox.ClaimedEvent], outcomes: dict[str, Outcome], elapsed: float, *, batch: int
    ) -> None:
        """Count and log each event of a group: one line per event, whatever happened."""
        if len(group) > 1:
            WEBHOOKS_COALESCED.inc(len(group) - 1)
        for event in group:
            outcome = outcomes[event.id]
            WEBHOOK_PROCESSING_SECONDS.observe(elapsed / len(group))
            self._count(event, outcome)
            log.log(
                logging.WARNING if outcome.state in ("failed", "dead", "lost") else logging.INFO,
                "webhook event=%s type=%s object=%s outcome=%s attempt=%d group=%d batch=%d duration_ms=%.1f note=%s",
                event.id,
                event.type,
                event.object_id,
                outcome.state,
                event.attempts,
                len(group),
                batch,
                elapsed * 1000,
                json.dumps(outcome.note),
                extra={
                    "event_id": event.id,
                    "event_type": event.type,
                    "object_id": event.object_id,
                    "outcome": outcome.state,
                    "attempt": event.attempts,
                    "group": len(group),
                    "batch": batch,
                    "duration_ms": round(elapsed * 1000, 1),
                },
            )

    def _prepare(self, group: Sequence[inbox.ClaimedEvent]) -> _Group:
        payloads = [orjson.loads(event.payload) for event in group]
        received = [e.received_at for e in group if e.received_at is not None]
        by_handler: dict[Handler, list[int]] = {}
        reads: list[ReadKey] = []
        for index, event in enumerate(group):
            handler = handler_for(event.type)
            if handler is not None:
                by_handler.setdefault(handler, []).append(index)
                reads.extend(foreseen_reads(event.type, payloads[index]))
        return _Group(group, payloads, max(received) if received else None, by_handler, list(dict.fromkeys(reads)))

    def _reread_pool(self) -> ThreadPoolExecutor | None:
        if self.options.reread_threads <= 1:
            return None
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.options.reread_threads, thread_name_prefix=f"paywire-reread-{self.worker_id[-8:]}"
            )
        return self._executor

    def _prefetch(self, session: Session, groups: Sequence[_Group], reads: BatchReads) -> None:
        """Make the groups' foreseen re-reads, concurrently, except those the mirror already
        holds a newer read of (`mirror.covers`): the stored versions are read first, in one
        query per table, and kept for the handlers. Called at the start of the transaction
        the groups are applied in, before it writes anything: no lock is held meanwhile."""
        ids: dict[str, set[str]] = {"subscriptions": set(), "invoices": set()}
        for group in groups:
            for method, object_id, _ in group.reads:
                table = VERSIONED_READS.get(method)
                if table is not None and (table, object_id) not in reads.stored:
                    ids[table].add(object_id)
        for table, model in (("subscriptions", Subscription), ("invoices", Invoice)):
            if ids[table]:
                query = select(model.id, model.stripe_version).where(model.id.in_(sorted(ids[table])))
                found = dict(session.execute(query).all())
                for object_id in ids[table]:
                    reads.stored[(table, object_id)] = found.get(object_id)
        wanted: list[ReadKey] = []
        for group in groups:
            for read_key in group.reads:
                method, object_id, _ = read_key
                table = VERSIONED_READS.get(method)
                if table is not None and covers(self.settings, group.received_at, reads.stored.get((table, object_id))):
                    continue  # the handler will find that the stored read covers its events
                wanted.append(read_key)
        reads.prefetch(wanted)

    def _context(self, session: Session, group: _Group, reads: BatchReads) -> HandlerContext:
        return HandlerContext(
            session,
            CachingGateway(self.gateway, reads),  # type: ignore[arg-type]
            self.catalog,
            self.settings,
            received_at=group.received_at,
            reads=reads,
            known_facts=self.known_facts,
        )

    def _run_handlers(self, context: HandlerContext, group: _Group) -> dict[str, Outcome]:
        outcomes = {e.id: Outcome("ignored", "no handler for this type") for e in group.events}
        for handler, indexes in group.by_handler.items():
            events = EventGroup(tuple(group.payloads[i] for i in indexes), group.received_at)
            context.event_types = events.types
            context.event_id = group.events[indexes[0]].id
            note = handler(context, events)
            for i in indexes:
                outcomes[group.events[i].id] = Outcome("processed", note)
        return outcomes

    def _apply_batch(self, groups: Sequence[_Group], reads: BatchReads) -> dict[str, Outcome]:
        """All groups in one transaction, marked with one statement per state; raises (all
        rolled back) if any group fails or any claim was lost."""
        outcomes: dict[str, Outcome] = {}
        try:
            with self.sessions() as session:
                self._prefetch(session, groups, reads)
                for group in groups:
                    outcomes.update(self._run_handlers(self._context(session, group, reads), group))
                    # A death here, at any group, loses the whole uncommitted batch.
                    crashpoints.reached("mirror_written_before_commit")
                marks = [(event_id, outcome.state) for event_id, outcome in outcomes.items()]
                if not inbox.finish_group(session, marks, worker_id=self.worker_id):
                    session.rollback()
                    raise _BatchFailed("a claim of the batch was lost")
                session.commit()
        except BaseException:
            self.known_facts.rolled_back()
            raise
        self._committed_facts()
        crashpoints.reached("events_committed")
        return outcomes

    def _apply_alone(self, group: _Group, reads: BatchReads) -> dict[str, Outcome]:
        """One group in its own transaction; a handler error is recorded on its events."""
        try:
            try:
                return self._apply_once(group, reads)
            except IntegrityError:
                # Two events about different objects can write one mirror row (an order, a
                # schedule): both saw no row and both inserted. The row exists now, so running
                # the handlers again (they upsert) updates it instead of failing the events.
                return self._apply_once(group, reads)
        except Exception as exc:
            return self._record_failure(group.events, exc)

    def _apply_once(self, group: _Group, reads: BatchReads) -> dict[str, Outcome]:
        try:
            with self.sessions() as session:
                self._prefetch(session, [group], reads)
                outcomes = self._run_handlers(self._context(session, group, reads), group)
                crashpoints.reached("mirror_written_before_commit")
                marks = [(event_id, outcome.state) for event_id, outcome in outcomes.items()]
                if not inbox.finish_group(session, marks, worker_id=self.worker_id):
                    session.rollback()
                    self.known_facts.rolled_back()
                    lost = Outcome("lost", "the claim expired and was taken over; changes rolled back")
                    return {e.id: lost for e in group.events}
                session.commit()
        except BaseException:
            self.known_facts.rolled_back()
            raise
        self._committed_facts()
        crashpoints.reached("events_committed")
        return outcomes

    def _committed_facts(self) -> None:
        if self.known_facts.committed():
            self._facts_recorded = True  # new facts: deliver them right away

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
