"""Running a sync: every selected resource listed from Stripe page by page, each page compared
with its mirror rows and repaired, then the mirror's rows the list did not show.

At scale: a page is 100 objects with the expansions their rows need (a subscription's prices,
coupons and test clock), so no object costs a request of its own; the next page is fetched while
this one is written (one page ahead, no more; on PostgreSQL two pages are written side by side,
committed in their order), each page's comparison is one query and its repairs one transaction;
memory stays flat (the ids seen are kept in the database, the report
keeps counts and the first DRIFT_KEPT differences). Every request is background work for the
deployment's request budget (`paywire.stripe.budget`): a person waiting, and the events worker,
go first.

Resume: each page's repairs, its ids (`sync_seen`) and the last id done (`cursors` row
`sync.<resource>`, Stripe's `starting_after`) are committed together. A run stopped by Ctrl-C, a
crash or a Stripe outage is continued by the next `paywire sync`: finished resources are
skipped, the unfinished one is listed from its checkpoint on (the interrupted page again), and
the rows the mirror holds beyond what the whole run saw are checked at the end. A dry run writes
nothing at all (so it neither resumes nor leaves a checkpoint).

One sync at a time: the run holds a lease (`cursors` row `sync`), renewed after each page.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from paywire.db.engine import on_postgresql
from paywire.db.models import utcnow
from paywire.db.repositories import cursors
from paywire.metrics import SYNC_DRIFT
from paywire.mirror import read_version
from paywire.reconcile.drift import Drift
from paywire.reconcile.progress import ProgressBar
from paywire.reconcile.resources import RESOURCES, Listed, Resource, SyncContext
from paywire.reconcile.revenue import NAME as REVENUE
from paywire.reconcile.revenue import rebuild_histories
from paywire.stripe import Priority, StripeGateway, at_priority, current_priority

LEASE = "sync"
LEASE_SECONDS = 300.0
PAGE_SIZE = 100
# Page writers on PostgreSQL (on SQLite, one: its writes queue on one lock). A subscriptions
# page takes a writer longer than the request budget allows a page (a dozen statements, about
# half of the time waiting on the server); two overlap those waits.
POSTGRESQL_WRITERS = 2
DEADLOCK = "40P01"  # PostgreSQL's SQLSTATE for a deadlock (one side's transaction is ended)
# How long a page writer holding its page's locks waits for the page before it to commit, before
# it gives way (`_Run.write_in_turn`). A page takes a fraction of a second.
GIVE_WAY_SECONDS = 2.0


def checkpoint_name(resource: str) -> str:
    return f"sync.{resource}"


# The differences a report keeps for its caller (all are counted, and passed to `on_drift`).
DRIFT_KEPT = 1000


@dataclass
class ResourceReport:
    name: str
    checked: int = 0
    list_calls: int = 0
    drift: list[Drift] = field(default_factory=list)  # the first DRIFT_KEPT
    drifted: Counter[str] = field(default_factory=Counter)  # by kind
    kept: int = 0  # differences reported, not repaired ("kept: …")
    resumed_after: str | None = None  # the checkpoint this run continued from
    resumed: bool = False
    finished_before: bool = False  # done by the interrupted run this one continues

    def found(self, drift: Drift) -> None:
        self.drifted[drift.kind] += 1
        self.kept += drift.action.startswith("kept")
        if len(self.drift) < DRIFT_KEPT:
            self.drift.append(drift)

    def summary(self) -> str:
        if self.finished_before:
            return f"{self.name}: already done by the interrupted run"
        detail = ", ".join(f"{n} {kind}" for kind, n in sorted(self.drifted.items()))
        resumed = ""
        if self.resumed:
            resumed = f" (resumed after {self.resumed_after})" if self.resumed_after else " (resumed)"
        return (
            f"{self.name}: {self.checked} checked, {self.drifted.total()} drifted"
            + (f" ({detail})" if detail else "")
            + resumed
        )


@dataclass
class SyncReport:
    dry_run: bool
    run_id: str | None = None
    resources: list[ResourceReport] = field(default_factory=list)

    @property
    def drift(self) -> list[Drift]:
        """The differences kept (the first DRIFT_KEPT of each resource)."""
        return [d for r in self.resources for d in r.drift]

    @property
    def drifted(self) -> int:
        return sum(r.drifted.total() for r in self.resources)

    @property
    def to_repair(self) -> int:
        """Differences sync repairs (or would): all but the ones it only reports."""
        return self.drifted - sum(r.kept for r in self.resources)


class SyncBusy(Exception):
    """Another `paywire sync` holds the lease."""

    def __init__(self, held_by: str | None, held_until: datetime | None) -> None:
        until = f", lease until {held_until:%Y-%m-%d %H:%M:%S} UTC" if held_until else ""
        super().__init__(f"another sync is running ({held_by}{until})")
        self.held_by = held_by
        self.held_until = held_until


class SyncInterrupted(Exception):
    """The run stopped (Ctrl-C, or Stripe failed) after its last checkpoint: run it again to
    continue. `report` holds what was done; `cause` why it stopped."""

    def __init__(self, report: SyncReport, cause: BaseException) -> None:
        super().__init__(str(cause) or type(cause).__name__)
        self.report = report
        self.cause = cause


def sync_mirror(
    ctx: SyncContext,
    *,
    resources: Sequence[str] = tuple(RESOURCES),
    dry_run: bool = False,
    page_size: int = PAGE_SIZE,
    progress: ProgressBar | None = None,
    on_drift: Callable[[Drift], None] | None = None,
    on_object: Callable[[str, str], None] | None = None,
    stop: threading.Event | None = None,
    writers: int | None = None,
) -> SyncReport:
    """Compare and (unless `dry_run`) repair the mirror of each resource. Raises `SyncBusy`,
    or `SyncInterrupted` when stopped part way (the checkpoints let the next run continue).
    `stop`, once set, ends the run at its next checkpoint (a Ctrl-C then never lands inside a
    transaction being closed). `writers`: pages written side by side (default: POSTGRESQL_WRITERS
    on PostgreSQL, one on SQLite)."""
    run = _Run(ctx, dry_run=dry_run, page_size=page_size, progress=progress, on_drift=on_drift, on_object=on_object)
    run.stop = stop
    if writers is not None:
        run.writers = writers
    # Background work: a person's requests and the events worker's go first (paywire.stripe.budget).
    with at_priority(Priority.BACKGROUND):
        if not dry_run:
            run.take_lease()
        try:
            run.sync([RESOURCES[name] for name in resources])
            if "invoices" in resources:  # the ledger's history is read from the invoices
                run.rebuild_revenue()
        except (KeyboardInterrupt, Exception) as exc:
            if isinstance(exc, SyncBusy):
                raise
            raise SyncInterrupted(run.report, exc) from exc
        finally:
            if not dry_run:
                run.release_lease()
    return run.report


def holder_is_dead(held_by: str) -> bool:
    """Whether a lease holder (`host:pid:nonce`) is a process of this machine that is gone."""
    host, _, rest = held_by.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class _Run:
    def __init__(
        self,
        ctx: SyncContext,
        *,
        dry_run: bool,
        page_size: int,
        progress: ProgressBar | None,
        on_drift: Callable[[Drift], None] | None,
        on_object: Callable[[str, str], None] | None,
    ) -> None:
        self.ctx = ctx
        self.dry_run = dry_run
        self.page_size = page_size
        self.progress = progress
        self.on_drift = on_drift
        self.on_object = on_object
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.report = SyncReport(dry_run=dry_run)
        self.stop: threading.Event | None = None
        with ctx.sessions() as session:
            self.writers = POSTGRESQL_WRITERS if on_postgresql(session) else 1

    def stop_if_asked(self) -> None:
        """At a checkpoint: end the run here if it was asked to stop."""
        if self.stop is not None and self.stop.is_set():
            raise KeyboardInterrupt

    def take_lease(self) -> None:
        with self.ctx.sessions() as session:
            taken = cursors.take_lease(session, LEASE, holder=self.holder, seconds=LEASE_SECONDS)
            session.commit()
            if taken:
                return
            row = cursors.find(session, LEASE)
            held_by = row.held_by if row else None
            if held_by and holder_is_dead(held_by):
                # A sync killed on this machine (kill -9) need not block the next for the lease's length.
                taken = cursors.take_over_lease(
                    session, LEASE, previous=held_by, holder=self.holder, seconds=LEASE_SECONDS
                )
                session.commit()
            if not taken:
                raise SyncBusy(held_by, row.held_until if row else None)

    def release_lease(self) -> None:
        with self.ctx.sessions() as session:
            cursors.release_lease(session, LEASE, holder=self.holder)
            session.commit()

    def sync(self, selected: list[Resource]) -> None:
        if self.dry_run:
            for resource in selected:
                self.sync_resource(resource, ResourceReport(resource.name), None, 0)
            return
        with self.ctx.sessions() as session:
            rows = {r.name: cursors.find(session, checkpoint_name(r.name)) for r in selected}
            unfinished = [row.run_id for row in rows.values() if row and row.run_id and row.scanned_at is None]
            run_id = unfinished[0] if unfinished else uuid.uuid4().hex
            if not unfinished:
                cursors.forget_seen(session, keep_run=run_id)
                session.commit()
        self.report.run_id = run_id
        for resource in selected:
            row = rows[resource.name]
            report = ResourceReport(resource.name)
            if row is not None and row.run_id == run_id and row.scanned_at is not None:
                report.finished_before = True
                self.report.resources.append(report)
                continue
            done = 0
            if row is not None and row.run_id == run_id:
                report.resumed, report.resumed_after = True, row.last_id
                with self.ctx.sessions() as session:
                    done = cursors.seen_count(session, run_id, resource.name)
            else:
                with self.ctx.sessions() as session:
                    cursors.start_run(session, checkpoint_name(resource.name), run_id)
                    session.commit()
            self.sync_resource(resource, report, run_id, done)

    def sync_resource(self, resource: Resource, report: ResourceReport, run_id: str | None, done: int) -> None:
        self.report.resources.append(report)
        with self.ctx.sessions() as session:
            expected = resource.mirror_count(session)
        if self.progress is not None:
            self.progress.start(resource.name, expected=expected, done=done)
        # A dry run keeps the ids it saw in memory (it writes nothing); a run keeps them with its checkpoints.
        seen: set[str] | None = set() if run_id is None else None
        pages = _Pages(resource, self.ctx.gateway, report.resumed_after, self.page_size)
        with pages as listed_pages:
            if run_id is not None and self.writers > 1:
                self.sync_pages_side_by_side(resource, report, run_id, listed_pages)
            else:
                for page in listed_pages:
                    self.stop_if_asked()
                    self.sync_page(resource, report, run_id, page)
                    if seen is not None:
                        seen.update(listed.obj["id"] for listed in page)
        self.stop_if_asked()
        report.list_calls += pages.calls
        with self.ctx.sessions() as session:
            unlisted = list(resource.unlisted(session, seen, run_id))
        for chunk in unlisted:
            self.stop_if_asked()
            for object_id in chunk:
                with self.ctx.sessions() as session:
                    drift = resource.check_unlisted(self.ctx, session, object_id)
                if drift is not None:
                    self.settle(resource, report, [drift])
        if run_id is not None:
            with self.ctx.sessions() as session:
                cursors.finish_run(session, checkpoint_name(resource.name), run_id)
                cursors.forget_seen(session, run_id=run_id, resource=resource.name)
                session.commit()
        if self.progress is not None:
            self.progress.finish()

    def sync_page(self, resource: Resource, report: ResourceReport, run_id: str | None, page: list[Listed]) -> None:
        """Compare a page (one read-only transaction), then repair it and move the checkpoint
        past it (one transaction: on SQLite a read transaction cannot become a write once
        another writer committed)."""
        with self.ctx.sessions() as session:
            checked = resource.check_page(self.ctx, session, page)
        drifts = self.count_page(resource, report, page, checked)
        self.settle(resource, report, drifts, checkpoint=(run_id, page) if run_id and page else None)

    def count_page(
        self, resource: Resource, report: ResourceReport, page: list[Listed], checked: list[Drift | None]
    ) -> list[Drift]:
        """A page compared: counted, shown, and its differences."""
        drifts = []
        for listed, drift in zip(page, checked, strict=True):
            if drift is not None:
                drifts.append(drift)
            report.checked += 1
            if self.progress is not None:
                self.progress.advance()
            if self.on_object is not None:
                self.on_object(resource.name, listed.obj["id"])
        return drifts

    def sync_pages_side_by_side(
        self, resource: Resource, report: ResourceReport, run_id: str, pages: Iterator[list[Listed]]
    ) -> None:
        """`sync_page` for `self.writers` pages at once (PostgreSQL), each by a writer thread, so
        one page's waits on the database overlap another's work. The pages still commit in their
        order, each with its checkpoint, and are reported in it (`_Turns`): what a run stopped
        here leaves is what `sync_page` one at a time leaves. Returns when the pages run out or
        the run is asked to stop (the caller then ends it at this checkpoint)."""
        priority, turns = current_priority(), _Turns()
        flight: collections.deque[Future[None]] = collections.deque()
        failures: list[BaseException] = []
        with ThreadPoolExecutor(self.writers, thread_name_prefix=f"paywire-sync-{resource.name}") as writers:
            try:
                for n, page in enumerate(pages):
                    if self.stop is not None and self.stop.is_set():
                        break
                    writing = writers.submit(self.write_in_turn, resource, report, run_id, page, n, turns, priority)
                    flight.append(writing)
                    if len(flight) >= self.writers and (failed := _failure(flight.popleft())) is not None:
                        failures.append(failed)  # a writer failed: the pages after it give up
                        break
            except BaseException as exc:  # the listing failed (or Ctrl-C came)
                failures.append(exc)
            # The pages handed out are written first, as one writer would have written them
            # before it saw the listing fail (unless a writer failed: then they give up).
            failures += [failed for failed in map(_failure, flight) if failed is not None]
        if failures:
            raise next((f for f in failures if not isinstance(f, TurnsAbandoned)), failures[0])

    def write_in_turn(
        self,
        resource: Resource,
        report: ResourceReport,
        run_id: str,
        page: list[Listed],
        n: int,
        turns: _Turns,
        priority: Priority,
    ) -> None:
        """A writer thread's page, the `n`th: compared, repaired, then (its turn come: the page
        before committed) counted, checkpointed, committed and reported. While it waits for its
        turn it holds what its repairs locked; should the page before need one of those rows (a
        user with subscriptions on both pages), it would wait for this one, which waits for it:
        so after GIVE_WAY_SECONDS this one rolls back, lets it commit, and does its page again.
        A deadlock PostgreSQL finds between the two is handled the same way."""
        try:
            with at_priority(priority):
                while True:
                    with self.ctx.sessions() as session:
                        checked = resource.check_page(self.ctx, session, page)
                    drifts = [drift for drift in checked if drift is not None]
                    with self.ctx.sessions() as session:
                        try:
                            actions = resource.repair_page(self.ctx, session, drifts)
                        except OperationalError as exc:
                            if getattr(exc.orig, "sqlstate", None) != DEADLOCK:
                                raise
                            session.rollback()
                            turns.wait(n)
                            continue
                        if not turns.wait(n, timeout=GIVE_WAY_SECONDS):
                            session.rollback()
                            turns.wait(n)
                            continue
                        self.stop_if_asked()  # asked before this page's turn: it is not written
                        self.count_page(resource, report, page, checked)
                        for drift, action in zip(drifts, actions, strict=True):
                            drift.action = action
                        self.move_checkpoint(session, resource, run_id, page)
                        session.commit()
                    for drift in drifts:
                        SYNC_DRIFT.labels(resource=resource.name, kind=drift.kind).inc()
                    self.report_drifts(report, drifts)
                    turns.done(n)
                    return
        except BaseException:
            turns.abandon()
            raise

    def settle(
        self,
        resource: Resource,
        report: ResourceReport,
        drifts: list[Drift],
        checkpoint: tuple[str, list[Listed]] | None = None,
    ) -> None:
        """Repair drifts in one transaction (a dry run: say what it would do), with the
        checkpoint past their page, then report them."""
        for drift in drifts:
            SYNC_DRIFT.labels(resource=resource.name, kind=drift.kind).inc()
        if self.dry_run:
            for drift in drifts:
                drift.action = resource.planned(drift)
        elif drifts or checkpoint:
            with self.ctx.sessions() as session:
                for drift, action in zip(drifts, resource.repair_page(self.ctx, session, drifts), strict=True):
                    drift.action = action
                if checkpoint is not None:
                    self.move_checkpoint(session, resource, *checkpoint)
                session.commit()
        self.report_drifts(report, drifts)

    def move_checkpoint(self, session: Session, resource: Resource, run_id: str, page: list[Listed]) -> None:
        """In the page's transaction: its ids seen, the checkpoint past it, the lease renewed."""
        ids = [listed.obj["id"] for listed in page]
        cursors.add_seen(session, run_id, resource.name, ids)
        cursors.checkpoint(session, checkpoint_name(resource.name), run_id, ids[-1])
        cursors.renew_lease(session, LEASE, holder=self.holder, seconds=LEASE_SECONDS)

    def report_drifts(self, report: ResourceReport, drifts: list[Drift]) -> None:
        for drift in drifts:
            drift.listed = None  # the object is done with: keep what is reported only
            report.found(drift)
            if self.progress is not None:
                self.progress.drifted()
                self.progress.clear()
            if self.on_drift is not None:
                self.on_drift(drift)

    def rebuild_revenue(self) -> None:
        """The revenue ledger's backfill, from the mirror the resources left (reconcile.revenue)."""
        report = ResourceReport(REVENUE)
        self.report.resources.append(report)

        def found(drift: Drift) -> None:
            SYNC_DRIFT.labels(resource=REVENUE, kind=drift.kind).inc()
            report.found(drift)
            if self.on_drift is not None:
                self.on_drift(drift)

        report.checked = rebuild_histories(self.ctx, dry_run=self.dry_run, on_drift=found)


def _failure(future: Future[None]) -> BaseException | None:
    """What a page writer raised, once it is done (None: its page is committed)."""
    try:
        future.result()
    except BaseException as exc:
        return exc
    return None


class _Turns:
    """The order in which side-by-side page writers commit: page `n` once page `n - 1` has."""

    def __init__(self) -> None:
        self._next = 0
        self._abandoned = False
        self._changed = threading.Condition()

    def wait(self, n: int, timeout: float | None = None) -> bool:
        """Until it is page `n`'s turn (True) or `timeout` has passed (False). Raises
        `TurnsAbandoned` once a page before it failed or the run stopped."""
        with self._changed:
            self._changed.wait_for(lambda: self._next == n or self._abandoned, timeout)
            if self._abandoned:
                raise TurnsAbandoned
            return self._next == n

    def done(self, n: int) -> None:
        with self._changed:
            self._next = n + 1
            self._changed.notify_all()

    def abandon(self) -> None:
        with self._changed:
            self._abandoned = True
            self._changed.notify_all()


class TurnsAbandoned(Exception):
    """A page before this one failed, or the run stopped: this one is not committed."""


class _Pages:
    """A resource's pages from `after` on, each fetched while the one before is worked on
    (one page ahead, in a thread drawing at the caller's priority): the sync then takes the
    time of the longer of the two, listing or writing, not of both."""

    def __init__(self, resource: Resource, gateway: StripeGateway, after: str | None, page_size: int) -> None:
        self.resource = resource
        self.gateway = gateway
        self.after = after
        self.page_size = page_size
        self.priority = current_priority()
        self.calls = 0  # list requests made
        self._queue: queue.Queue[list[Listed] | BaseException | None] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._fetch, name=f"paywire-sync-{resource.name}", daemon=True)

    def __enter__(self) -> Iterator[list[Listed]]:
        self._thread.start()
        return self._pages()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with contextlib.suppress(queue.Empty):
            self._queue.get_nowait()  # let a fetcher blocked on a full queue see the stop

    def _pages(self) -> Iterator[list[Listed]]:
        while True:
            found = self._queue.get()
            if found is None:
                return
            if isinstance(found, BaseException):
                raise found
            yield found

    def _fetch(self) -> None:
        after = self.after
        with at_priority(self.priority):
            try:
                while not self._stop.is_set():
                    version, at = read_version(), utcnow()
                    items, more = self.resource.list_page(self.gateway, after, self.page_size)
                    self.calls += 1
                    page = self.resource.listed(items, version, at)
                    if page:
                        self._put(page)
                    if not more or not items:
                        break
                    after = items[-1]["id"]
            except BaseException as exc:
                self._put(exc)
                return
            self._put(None)

    def _put(self, item: list[Listed] | BaseException | None) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(queue.Full):
                self._queue.put(item, timeout=0.1)
                return
