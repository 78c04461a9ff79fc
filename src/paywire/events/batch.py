"""Applying one claimed batch: its re-reads first, concurrently, then one transaction.

A claim takes the due events of several objects. Their re-reads from Stripe are made first,
concurrently, on a small pool (`paywire.events.reads`), outside any transaction; then all the
groups (events about one object) are applied and marked in ONE transaction, in an order that
makes two workers' batches take the rows they share in the same order (no deadlocks). If
anything in that transaction fails (a handler error, a lost claim, a database error), it is
rolled back as a whole and the batch is done again group by group, each group in its own
transaction, with the reads already made: so one bad group costs its neighbours a retry of
their database work, never a second read, and never their outcome.

Within a group, the event types that re-read the same way (`EventHandler.apply`) run
together: one call, one read, with the facts each type hints at. A group is either applied
and marked, or neither (then retried). A handler error is recorded on each event of the
group (`last_error`, `attempts`); they come back after a backoff, until dead-lettered.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paywire import crashpoints
from paywire.catalog import Catalog
from paywire.config import Settings
from paywire.db.leases import RetryPolicy
from paywire.events import inbox
from paywire.events.appliers import offer_of
from paywire.events.handlers import handler_for
from paywire.events.handling import Apply, EventGroup, EventHandler, HandlerContext, ReadKey, Stored
from paywire.events.reads import BatchReads
from paywire.events.report import Outcome, report
from paywire.metrics import WEBHOOK_BATCH_FALLBACKS, WEBHOOK_REREADS
from paywire.mirror import MirrorContext
from paywire.mirror.context import STATE_TABLES, load_marks, mark_key
from paywire.mirror.payloads import Decision, Offer, decide
from paywire.outbox import KnownFacts
from paywire.stripe import Kind, Priority, StripeGateway, set_thread_priority

log = logging.getLogger("paywire.events.worker")


@dataclass
class _Group:
    """One claimed group, ready to apply: its events parsed, its work by `apply`, its reads."""

    events: Sequence[inbox.ClaimedEvent]
    payloads: list[dict[str, Any]]
    received_at: datetime | None
    by_apply: dict[Apply, list[tuple[int, EventHandler]]]
    reads: list[ReadKey]
    # Reads only events whose handler has `served` foresaw: each with those events and tests.
    spared_if: dict[ReadKey, list[tuple[dict[str, Any], Callable[[dict[str, Any], Stored], bool]]]]

    def event_group(self, apply: Apply) -> EventGroup:
        """The events `apply` handles together, as its handlers see them."""
        handled = self.by_apply[apply]
        return EventGroup(
            tuple(self.payloads[i] for i, _ in handled),
            self.received_at,
            payloads_are_states=all(h.state_in_payload for _, h in handled),
        )

    def offers(self, settings: Settings) -> dict[ReadKey, Offer | None]:
        """For each object whose events re-read it whole: their newest payload the mirror
        may apply instead (what the handler will compute, `appliers.offer_of`)."""
        found: dict[ReadKey, Offer | None] = {}
        for apply, handled in self.by_apply.items():
            kind = handled[0][1].reads
            if kind in STATE_TABLES and all(h.reads is kind for _, h in handled):
                group = self.event_group(apply)
                with contextlib.suppress(ValueError):
                    found[(kind, group.object_id)] = offer_of(kind, group, settings)
        return found

    @property
    def lock_order(self) -> tuple[str, int]:
        """Where this group stands in its batch's transaction: by the first row it will
        write that another object's group may write too (a checkout session and its
        subscription's own events both write the subscription), else by its object. Every
        batch takes shared rows in this one order, so two concurrent batches cannot wait
        for each other in a circle. Of the groups sharing a subscription, its own events
        come first: the others may find it brought up to date (`EventHandler.served`)."""
        own = self.events[0].object_id or self.events[0].id
        for kind, object_id in self.reads:
            if kind is Kind.SUBSCRIPTION:
                return (object_id, 0 if object_id == own else 1)
        return (own, 0)


class _BatchFailed(Exception):
    """The batch's one transaction could not be committed: redo it group by group."""


class BatchProcessor:
    """Applies claimed batches for one worker (its sessions, its claims, its known facts)."""

    def __init__(
        self,
        *,
        sessions: Callable[[], Session],
        gateway: StripeGateway,
        catalog: Catalog,
        settings: Settings,
        worker_id: str,
        retry: RetryPolicy,
        lease_seconds: float,
        reread_threads: int,
    ) -> None:
        self.sessions = sessions
        self.gateway = gateway
        self.catalog = catalog
        self.settings = settings
        self.worker_id = worker_id
        self.retry = retry
        self.lease_seconds = lease_seconds
        self.reread_threads = reread_threads
        self.known_facts = KnownFacts()
        self.facts_recorded = False  # a commit added facts: deliver them right away
        self._executor: ThreadPoolExecutor | None = None

    def process(self, groups: Sequence[Sequence[inbox.ClaimedEvent]]) -> dict[str, Outcome]:
        """Apply claimed groups (each about one object): an outcome per event."""
        started = time.perf_counter()
        prepared = sorted((self._prepare(group) for group in groups), key=lambda g: g.lock_order)
        reads = BatchReads(self.gateway, self._reread_pool())
        outcomes: dict[str, Outcome] = {}
        if len(prepared) > 1:
            try:
                outcomes = self._apply_together(prepared, reads)
            except Exception as exc:
                WEBHOOK_BATCH_FALLBACKS.inc()
                log.info("worker %s: batch of %d groups redone group by group: %r", self.worker_id, len(prepared), exc)
                outcomes = {}
        if not outcomes:
            claimed_at = time.monotonic()
            for position, group in enumerate(prepared):
                if time.monotonic() - claimed_at > self.lease_seconds / 3:
                    self._renew([e.id for g in prepared[position:] for e in g.events])
                    claimed_at = time.monotonic()
                outcomes.update(self._apply_alone(group, reads))
        WEBHOOK_REREADS.inc(reads.made)
        elapsed = time.perf_counter() - started
        for group in prepared:
            report(group.events, outcomes, elapsed, batch=len(prepared))
        return outcomes

    def forget(self) -> None:
        """After a loop error: the database may have lost recent commits."""
        self.known_facts.clear()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def _prepare(self, group: Sequence[inbox.ClaimedEvent]) -> _Group:
        payloads = [orjson.loads(event.payload) for event in group]
        received = [e.received_at for e in group if e.received_at is not None]
        by_apply: dict[Apply, list[tuple[int, EventHandler]]] = {}
        reads: list[ReadKey] = []
        spared_if: dict[ReadKey, list[tuple[dict[str, Any], Callable[[dict[str, Any], Stored], bool]]]] = {}
        needed: set[ReadKey] = set()
        for index, event in enumerate(group):
            handler = handler_for(event.type)
            if handler is not None:
                by_apply.setdefault(handler.apply, []).append((index, handler))
                foreseen = handler.foreseen(payloads[index])
                reads.extend(foreseen)
                for key in foreseen:
                    if handler.served is None:
                        needed.add(key)
                    else:
                        spared_if.setdefault(key, []).append((payloads[index], handler.served))
        received_at = max(received) if received else None
        spared = {key: tests for key, tests in spared_if.items() if key not in needed}
        return _Group(group, payloads, received_at, by_apply, list(dict.fromkeys(reads)), spared)

    def _reread_pool(self) -> ThreadPoolExecutor | None:
        if self.reread_threads <= 1:
            return None
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.reread_threads,
                thread_name_prefix=f"paywire-reread-{self.worker_id[-8:]}",
                initializer=set_thread_priority,
                initargs=(Priority.MIRROR,),
            )
        return self._executor

    def _prefetch(self, session: Session, groups: Sequence[_Group], reads: BatchReads) -> None:
        """Make the groups' foreseen re-reads, concurrently, except those the mirror does not
        need: it holds what the events announce already, or their own payload is provably
        newer (`paywire.mirror.payloads`), or it will hold what serves the event
        (`EventHandler.served`). What is stored is read first, in one query per
        table, and kept for the handlers. Called at the start of the transaction the groups
        are applied in, before it writes anything: no lock is held meanwhile."""
        for kind in STATE_TABLES:
            ids = {i for g in groups for k, i in g.reads if k is kind and mark_key(k, i) not in reads.stored}
            if ids:
                reads.stored.update(load_marks(session, kind, ids))

        # What each foreseen object will hold when the groups reading it run: its stored state,
        # or the payload its own group (applied first, `lock_order`) is sure to write.
        decisions: dict[tuple[int, ReadKey], Decision] = {}
        planned: dict[ReadKey, dict[str, Any]] = {}
        for position, group in enumerate(groups):
            offers = group.offers(self.settings)
            for key in group.reads:
                if key[0] in STATE_TABLES:
                    offer = offers.get(key)
                    decision = decide(
                        key[0],
                        reads.stored.get(mark_key(*key)),
                        offer,
                        received_at=group.received_at,
                        clock_skew=self.settings.worker_clock_skew,
                    )
                    decisions[(position, key)] = decision
                    if decision is Decision.APPLY and offer is not None:
                        planned[key] = offer.state

        def expected(key: ReadKey) -> dict[str, Any] | None:
            if key in planned:
                return planned[key]
            mark = reads.stored.get(mark_key(*key)) if key[0] in STATE_TABLES else None
            return mark.state if mark is not None else None

        wanted: list[ReadKey] = []
        for position, group in enumerate(groups):
            for key in group.reads:
                tests = group.spared_if.get(key)
                if tests and all(served(event, expected) for event, served in tests):
                    continue  # what the mirror will hold serves every event that foresaw it
                if decisions.get((position, key), Decision.READ) is not Decision.READ:
                    continue  # the handler will skip it, or apply the payload
                wanted.append(key)
        reads.prefetch(wanted)

    def _run_handlers(self, session: Session, group: _Group, reads: BatchReads) -> dict[str, Outcome]:
        outcomes = {e.id: Outcome("ignored", "no handler for this type") for e in group.events}
        for apply, handled in group.by_apply.items():
            indexes = [index for index, _ in handled]
            mirror = MirrorContext(
                session,
                reads,
                self.catalog,
                self.settings,
                received_at=group.received_at,
                source_event_id=group.events[indexes[0]].id,
                known_facts=self.known_facts,
                known_marks=reads.stored,
            )
            rules = list(dict.fromkeys(h.facts for _, h in handled if h.facts is not None))
            note = apply(HandlerContext(mirror, self.gateway), group.event_group(apply), rules)
            for index in indexes:
                outcomes[group.events[index].id] = Outcome("processed", note)
        return outcomes

    def _apply_together(self, groups: Sequence[_Group], reads: BatchReads) -> dict[str, Outcome]:
        """All groups in one transaction, marked with one statement per state; raises (all
        rolled back) if any group fails or any claim was lost."""
        outcomes = self._commit(groups, reads)
        if outcomes is None:
            raise _BatchFailed("a claim of the batch was lost")
        return outcomes

    def _apply_alone(self, group: _Group, reads: BatchReads) -> dict[str, Outcome]:
        """One group in its own transaction; a handler error is recorded on its events."""
        try:
            try:
                outcomes = self._commit([group], reads)
            except IntegrityError:
                # Two events about different objects can write one row (an order): both saw
                # no row and both inserted. The row exists now, so running the handlers
                # again updates it instead of failing the events.
                outcomes = self._commit([group], reads)
        except Exception as exc:
            return self._record_failure(group.events, exc)
        if outcomes is None:
            lost = Outcome("lost", "the claim expired and was taken over; changes rolled back")
            return {e.id: lost for e in group.events}
        return outcomes

    def _commit(self, groups: Sequence[_Group], reads: BatchReads) -> dict[str, Outcome] | None:
        """Apply the groups and mark their events in one transaction; None (rolled back) if a
        claim was lost to another worker meanwhile."""
        outcomes: dict[str, Outcome] = {}
        try:
            with self.sessions() as session:
                self._prefetch(session, groups, reads)
                for group in groups:
                    outcomes.update(self._run_handlers(session, group, reads))
                    # A death here, at any group, loses the whole uncommitted transaction.
                    crashpoints.reached("mirror_written_before_commit")
                marks = [(event_id, outcome.state) for event_id, outcome in outcomes.items()]
                if not inbox.finish_group(session, marks, worker_id=self.worker_id):
                    session.rollback()
                    self.known_facts.rolled_back()
                    return None
                session.commit()
        except BaseException:
            self.known_facts.rolled_back()
            raise
        self._committed_facts()
        crashpoints.reached("events_committed")
        return outcomes

    def _committed_facts(self) -> None:
        if self.known_facts.committed():
            self.facts_recorded = True

    def _record_failure(self, group: Sequence[inbox.ClaimedEvent], exc: Exception) -> dict[str, Outcome]:
        error = f"{type(exc).__name__}: {exc}"
        with self.sessions() as session:
            states = {
                event.id: inbox.fail(session, event, worker_id=self.worker_id, error=error, policy=self.retry)
                for event in group
            }
            session.commit()
        return {event_id: Outcome(state or "lost", error) for event_id, state in states.items()}

    def _renew(self, ids: list[str]) -> None:
        with self.sessions() as session:
            inbox.renew_leases(session, ids, worker_id=self.worker_id, lease_seconds=self.lease_seconds)
