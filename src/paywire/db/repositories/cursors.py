"""Queries for `cursors` and `sync_seen`: where recovery and `paywire sync` stand.

Leases are one conditional UPDATE each, so they work alike on SQLite and PostgreSQL: a
process holds a cursor while `held_until` is ahead and `held_by` names it; a holder that died
simply lets its lease run out. Every function leaves committing to the caller.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from paywire.db.models import Cursor, SyncSeen, utcnow
from paywire.db.upsert import insert_ignoring_duplicates


def ensure(session: Session, name: str) -> None:
    """Create the cursor's row if it is not there yet (racing creators are fine)."""
    insert_ignoring_duplicates(session, Cursor, [{"name": name, "updated_at": utcnow()}])


def find(session: Session, name: str) -> Cursor | None:
    return session.get(Cursor, name, populate_existing=True)


def take_lease(
    session: Session,
    name: str,
    *,
    holder: str,
    seconds: float,
    due_before: datetime | None = None,
    now: datetime | None = None,
) -> bool:
    """Hold the cursor for `seconds` unless another holder's lease is live. With
    `due_before`, only if its last complete scan is older than that (a schedule shared by
    every process). True if this holder has it now."""
    now = now or utcnow()
    ensure(session, name)
    conditions = [
        Cursor.name == name,
        or_(Cursor.held_until.is_(None), Cursor.held_until < now, Cursor.held_by == holder),
    ]
    if due_before is not None:
        conditions.append(or_(Cursor.scanned_at.is_(None), Cursor.scanned_at <= due_before))
    result = session.execute(
        update(Cursor)
        .where(and_(*conditions))
        .values(held_by=holder, held_until=now + timedelta(seconds=seconds), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def take_over_lease(session: Session, name: str, *, previous: str, holder: str, seconds: float) -> bool:
    """Take the lease from a holder known to be dead (only if it still holds it)."""
    now = utcnow()
    result = session.execute(
        update(Cursor)
        .where(Cursor.name == name, Cursor.held_by == previous)
        .values(held_by=holder, held_until=now + timedelta(seconds=seconds), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def renew_lease(session: Session, name: str, *, holder: str, seconds: float) -> bool:
    """Extend a lease this holder still has; False if it was lost (it ran out and was taken)."""
    now = utcnow()
    result = session.execute(
        update(Cursor)
        .where(Cursor.name == name, Cursor.held_by == holder)
        .values(held_until=now + timedelta(seconds=seconds), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def release_lease(session: Session, name: str, *, holder: str, scanned: bool = False) -> None:
    """Give the lease back; `scanned` records that a complete scan just ended."""
    values: dict[str, Any] = {"held_by": None, "held_until": None, "updated_at": utcnow()}
    if scanned:
        values["scanned_at"] = utcnow()
    session.execute(
        update(Cursor)
        .where(Cursor.name == name, Cursor.held_by == holder)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def advance_time(session: Session, name: str, stripe_time: int) -> bool:
    """Move the cursor's Stripe time forward (never back: two scans may finish in any order)."""
    ensure(session, name)
    result = session.execute(
        update(Cursor)
        .where(Cursor.name == name, or_(Cursor.stripe_time.is_(None), Cursor.stripe_time < stripe_time))
        .values(stripe_time=stripe_time, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def start_run(session: Session, name: str, run_id: str) -> None:
    """A new sync run of one resource: no checkpoint, not finished."""
    ensure(session, name)
    session.execute(
        update(Cursor)
        .where(Cursor.name == name)
        .values(run_id=run_id, last_id=None, scanned_at=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def checkpoint(session: Session, name: str, run_id: str, last_id: str) -> None:
    """The run has done everything in Stripe's list up to and including `last_id`."""
    session.execute(
        update(Cursor)
        .where(Cursor.name == name, Cursor.run_id == run_id)
        .values(last_id=last_id, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def finish_run(session: Session, name: str, run_id: str) -> None:
    now = utcnow()
    session.execute(
        update(Cursor)
        .where(Cursor.name == name, Cursor.run_id == run_id)
        .values(scanned_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def add_seen(session: Session, run_id: str, resource: str, object_ids: Iterable[str]) -> None:
    rows = [{"run_id": run_id, "resource": resource, "object_id": i} for i in dict.fromkeys(object_ids)]
    insert_ignoring_duplicates(session, SyncSeen, rows)


def seen_count(session: Session, run_id: str, resource: str) -> int:
    query = select(func.count()).select_from(SyncSeen).where(SyncSeen.run_id == run_id, SyncSeen.resource == resource)
    return int(session.scalar(query) or 0)


def seen(session: Session, run_id: str, resource: str) -> set[str]:
    return set(
        session.scalars(select(SyncSeen.object_id).where(SyncSeen.run_id == run_id, SyncSeen.resource == resource))
    )


def forget_seen(
    session: Session, *, run_id: str | None = None, resource: str | None = None, keep_run: str | None = None
) -> None:
    """Drop seen ids: those of `run_id` (one `resource` of it, or all), or of every run but
    `keep_run` (leftovers of abandoned runs)."""
    statement = delete(SyncSeen)
    if run_id is not None:
        statement = statement.where(SyncSeen.run_id == run_id)
    if resource is not None:
        statement = statement.where(SyncSeen.resource == resource)
    if keep_run is not None:
        statement = statement.where(SyncSeen.run_id != keep_run)
    session.execute(statement)
