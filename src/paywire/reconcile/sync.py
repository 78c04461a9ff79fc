"""Running a sync: every selected resource listed from Stripe page by page, each object
compared with its mirror row and repaired, then the mirror's rows the list did not show.

Resume: after each page the run records the page's ids (`sync_seen`) and the last id done
(`cursors` row `sync.<resource>`, Stripe's `starting_after`). A run stopped by Ctrl-C, a
crash or a Stripe outage is continued by the next `paywire sync`: finished resources are
skipped, the unfinished one is listed from its checkpoint on, and the rows the mirror holds
beyond what the whole run saw are checked at the end. A dry run writes nothing at all (so
it neither resumes nor leaves a checkpoint).

One sync at a time: the run holds a lease (`cursors` row `sync`), renewed after each page.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from paywire.db.models import utcnow
from paywire.db.repositories import cursors
from paywire.events.mirror import read_version
from paywire.metrics import SYNC_DRIFT
from paywire.reconcile.drift import Drift
from paywire.reconcile.progress import ProgressBar
from paywire.reconcile.resources import RESOURCES, Listed, Resource, SyncContext

LEASE = "sync"
LEASE_SECONDS = 300.0
PAGE_SIZE = 100


def checkpoint_name(resource: str) -> str:
    return f"sync.{resource}"


@dataclass
class ResourceReport:
    name: str
    checked: int = 0
    list_calls: int = 0
    drift: list[Drift] = field(default_factory=list)
    resumed_after: str | None = None  # the checkpoint this run continued from
    resumed: bool = False
    finished_before: bool = False  # done by the interrupted run this one continues

    def summary(self) -> str:
        if self.finished_before:
            return f"{self.name}: already done by the interrupted run"
        kinds = Counter(d.kind for d in self.drift)
        detail = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        resumed = ""
        if self.resumed:
            resumed = f" (resumed after {self.resumed_after})" if self.resumed_after else " (resumed)"
        return (
            f"{self.name}: {self.checked} checked, {len(self.drift)} drifted"
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
        return [d for r in self.resources for d in r.drift]


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
) -> SyncReport:
    """Compare and (unless `dry_run`) repair the mirror of each resource. Raises `SyncBusy`,
    or `SyncInterrupted` when stopped part way (the checkpoints let the next run continue)."""
    run = _Run(ctx, dry_run=dry_run, page_size=page_size, progress=progress, on_drift=on_drift, on_object=on_object)
    if not dry_run:
        run.take_lease()
    try:
        run.sync([RESOURCES[name] for name in resources])
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

    # ----- the lease ---------------------------------------------------------------------
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

    # ----- the run -----------------------------------------------------------------------
    def sync(self, selected: list[Resource]) -> None:
        if self.dry_run:
            for resource in selected:
                self.sync_resource(resource, ResourceReport(resource.name), None, set())
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
            if row is not None and row.run_id == run_id:
                report.resumed, report.resumed_after = True, row.last_id
                with self.ctx.sessions() as session:
                    seen = cursors.seen(session, run_id, resource.name)
            else:
                with self.ctx.sessions() as session:
                    cursors.start_run(session, checkpoint_name(resource.name), run_id)
                    session.commit()
                seen = set()
            self.sync_resource(resource, report, run_id, seen)

    def sync_resource(self, resource: Resource, report: ResourceReport, run_id: str | None, seen: set[str]) -> None:
        self.report.resources.append(report)
        with self.ctx.sessions() as session:
            expected = resource.mirror_count(session)
        if self.progress is not None:
            self.progress.start(resource.name, expected=expected, done=len(seen))
        after = report.resumed_after
        while True:
            version, at = read_version(), utcnow()
            items, more = resource.list_page(self.ctx.gateway, after, self.page_size)
            report.list_calls += 1
            for obj in items:
                with self.ctx.sessions() as session:
                    drift = resource.check(self.ctx, session, Listed(obj, version, at))
                if drift is not None:
                    self.settle(resource, report, drift)
                seen.add(obj["id"])
                report.checked += 1
                if self.progress is not None:
                    self.progress.advance()
                if self.on_object is not None:
                    self.on_object(resource.name, obj["id"])
            if items:
                after = items[-1]["id"]
                if run_id is not None:
                    self.checkpoint(resource, run_id, [o["id"] for o in items], after)
            if not more or not items:
                break
        with self.ctx.sessions() as session:
            unlisted = sorted(resource.mirror_ids(session) - seen)
        for object_id in unlisted:
            with self.ctx.sessions() as session:
                drift = resource.check_unlisted(self.ctx, session, object_id)
            if drift is not None:
                self.settle(resource, report, drift)
        if run_id is not None:
            with self.ctx.sessions() as session:
                cursors.finish_run(session, checkpoint_name(resource.name), run_id)
                cursors.forget_seen(session, run_id=run_id, resource=resource.name)
                session.commit()
        if self.progress is not None:
            self.progress.finish()

    def checkpoint(self, resource: Resource, run_id: str, ids: list[str], last_id: str) -> None:
        with self.ctx.sessions() as session:
            cursors.add_seen(session, run_id, resource.name, ids)
            cursors.checkpoint(session, checkpoint_name(resource.name), run_id, last_id)
            cursors.renew_lease(session, LEASE, holder=self.holder, seconds=LEASE_SECONDS)
            session.commit()

    def settle(self, resource: Resource, report: ResourceReport, drift: Drift) -> None:
        """Repair one drift (its own transaction, after the read that found it ended: on
        SQLite a read transaction cannot become a write once another writer committed)."""
        SYNC_DRIFT.labels(resource=resource.name, kind=drift.kind).inc()
        if self.dry_run:
            drift.action = resource.planned(drift)
        else:
            with self.ctx.sessions() as session:
                drift.action = resource.repair(self.ctx, session, drift)
                session.commit()
        report.drift.append(drift)
        if self.progress is not None:
            self.progress.drifted()
            self.progress.clear()
        if self.on_drift is not None:
            self.on_drift(drift)
