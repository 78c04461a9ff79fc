"""The inbox (`webhook_events`): every verified event stored once by id, then worked off.

An event's life:

    pending ──claim──▶ processing ──▶ processed | ignored (no handler knows the type)
                           │
                           ├─ handler error ──▶ failed, due again after a backoff ──claim──▶ …
                           │                      └─ after `max_attempts` ──▶ dead
                           └─ lease expired (the worker died) ──▶ failed, due at once
    livemode_mismatch: kept for the record, never claimed.

    replay (`requeue`): failed | dead | processed | ignored ──▶ pending, attempts from 0.

Workers claim with `FOR UPDATE SKIP LOCKED` on PostgreSQL and with one conditional UPDATE
on SQLite, oldest received first (a retried event keeps its place in the line). Two
events about the same Stripe object are never processing at once: a claim skips every
object that has a live claim, and takes all due events of each object it chooses, so the
worker handles them together with one re-read (coalescing) and marks them in one go.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, exists, func, or_, select, text, update
from sqlalchemy.orm import Session, aliased

from paywire.db.leases import RetryPolicy, claiming, fail_claim, lease_until, released
from paywire.db.models import WebhookEvent, utcnow

DUE_STATES = ("pending", "failed")
FINAL_STATES = ("processed", "ignored", "dead", "livemode_mismatch")
# PostgreSQL claims look at a few more rows than they take: some are skipped because
# another event about the same object comes first or is being processed.
SCAN_FACTOR = 4
LOCK_NAMESPACE = "paywire.inbox:"
# A claim takes all due events of an object together, but not unboundedly many: a storm
# about one object is worked off over a few claims (each still one re-read).
MAX_EVENTS_PER_OBJECT = 50


@dataclass(frozen=True)
class ClaimedEvent:
    id: str
    type: str
    object_id: str | None
    payload: str
    attempts: int  # including the one just claimed
    received_at: datetime | None = None


def find(session: Session, event_id: str) -> WebhookEvent | None:
    return session.get(WebhookEvent, event_id)


def _due(now: datetime) -> Any:
    return and_(
        WebhookEvent.state.in_(DUE_STATES),
        or_(WebhookEvent.next_attempt_at.is_(None), WebhookEvent.next_attempt_at <= now),
    )


def _object_busy(now: datetime) -> Any:
    """Another event about the same object is being processed under a live lease."""
    other = aliased(WebhookEvent)
    return exists().where(
        other.object_id == WebhookEvent.object_id,
        other.state == "processing",
        other.claimed_until > now,
    )


def claim_batch(
    session: Session,
    *,
    worker_id: str,
    limit: int,
    lease_seconds: float,
    now: datetime | None = None,
    max_events: int | None = None,
) -> list[ClaimedEvent]:
    """Claim the due events of up to `limit` Stripe objects (the objects whose oldest due
    event came first, none already being processed), and commit the claim. Every due event
    of a chosen object is claimed with it, up to `max_events` in all: the worker coalesces
    them into one re-read. Events without an object are claimed one by one. Oldest received
    first; `group_by_object` splits the result."""
    now = now or utcnow()
    until = lease_until(now, lease_seconds)
    max_events = max_events or limit * MAX_EVENTS_PER_OBJECT
    if session.get_bind().dialect.name == "postgresql":
        target = _choose_postgresql(session, limit, max_events, now)
    else:
        target = _choose_sqlite(limit, max_events, now)
    claimed = _mark_claimed(session, target, worker_id=worker_id, until=until, now=now)
    session.commit()
    return claimed


def group_by_object(events: Sequence[ClaimedEvent]) -> list[list[ClaimedEvent]]:
    """Claimed events in groups about one object each, in the order of their oldest event;
    an event without an object is a group of its own."""
    groups: dict[str, list[ClaimedEvent]] = {}
    for event in events:
        groups.setdefault(event.object_id or f"\x00{event.id}", []).append(event)
    return list(groups.values())


def _choose_postgresql(session: Session, limit: int, max_events: int, now: datetime) -> Any:
    """Lock candidate rows (skipping rows other workers hold), then serialize per object
    with transaction-scoped advisory locks: two workers may lock different events about
    one object, but only one of them gets the object's lock. After taking it, look again
    (a fresh statement sees claims committed meanwhile) before keeping the object. The
    claim then takes every due event of the kept objects, skipping rows another claim is
    looking at this very moment (they stay due, for the next round), so two claims never
    wait on each other's row locks."""
    candidates = session.execute(
        select(WebhookEvent.id, WebhookEvent.object_id)
        .where(_due(now), or_(WebhookEvent.object_id.is_(None), ~_object_busy(now)))
        .order_by(WebhookEvent.received_at, WebhookEvent.id)
        .limit(limit * SCAN_FACTOR)
        .with_for_update(skip_locked=True, of=WebhookEvent)
    ).all()
    keys: list[tuple[str | None, str]] = []  # (object, event) in order of first appearance
    seen: set[str] = set()
    for event_id, object_id in candidates:
        if object_id is None:
            keys.append((None, event_id))
        elif object_id not in seen:
            seen.add(object_id)
            keys.append((object_id, event_id))
    objects = [o for o, _ in keys if o is not None]
    if objects:
        locked = session.execute(
            text(
                "SELECT o FROM unnest(CAST(:objects AS text[])) AS o "
                "WHERE pg_try_advisory_xact_lock(hashtext(:namespace || o))"
            ),
            {"objects": objects, "namespace": LOCK_NAMESPACE},
        ).scalars()
        locked_objects = set(locked)
        busy = _objects_in_progress(session, locked_objects, now) if locked_objects else set()
        keys = [(o, e) for o, e in keys if o is None or (o in locked_objects and o not in busy)]
    keys = keys[:limit]
    if not keys:
        return None
    chosen_objects = [o for o, _ in keys if o is not None]
    loose = [e for o, e in keys if o is None]
    chosen = (
        select(WebhookEvent.id)
        .where(_due(now), or_(WebhookEvent.object_id.in_(chosen_objects), WebhookEvent.id.in_(loose)))
        .order_by(WebhookEvent.received_at, WebhookEvent.id)
        .limit(max_events)
    )
    return claiming(session, chosen, WebhookEvent.id)


def _choose_sqlite(limit: int, max_events: int, now: datetime) -> Any:
    """SQLite: the claim is one UPDATE, which holds the database's write lock while it
    chooses and claims, so no other worker can slip in between."""
    key = func.coalesce(WebhookEvent.object_id, WebhookEvent.id)
    first_due = (
        select(key.label("key"), func.min(WebhookEvent.received_at).label("first"))
        .where(_due(now), or_(WebhookEvent.object_id.is_(None), ~_object_busy(now)))
        .group_by(key)
        .order_by(func.min(WebhookEvent.received_at), key)
        .limit(limit)
        .subquery()
    )
    return WebhookEvent.id.in_(
        select(WebhookEvent.id)
        .where(_due(now), key.in_(select(first_due.c.key)))
        .order_by(WebhookEvent.received_at, WebhookEvent.id)
        .limit(max_events)
        .scalar_subquery()
    )


def _objects_in_progress(session: Session, objects: set[str], now: datetime) -> set[str | None]:
    return set(
        session.execute(
            select(WebhookEvent.object_id).where(
                WebhookEvent.object_id.in_(objects),
                WebhookEvent.state == "processing",
                WebhookEvent.claimed_until > now,
            )
        ).scalars()
    )


def _table() -> Table:
    return cast(Table, WebhookEvent.__table__)


def _mark_claimed(
    session: Session,
    target: Any,
    *,
    worker_id: str,
    until: datetime,
    now: datetime,
) -> list[ClaimedEvent]:
    if target is None:
        return []
    # Core, on the session's connection, not an ORM update: the worker claims many times a
    # second, and the ORM's bulk update machinery costs more CPU than the statement.
    table = _table()
    rows = (
        session.connection()
        .execute(
            update(table)
            .where(target, _due(now))
            .values(
                state="processing",
                claimed_by=worker_id,
                claimed_until=until,
                attempts=table.c.attempts + 1,
            )
            .returning(
                table.c.id,
                table.c.type,
                table.c.object_id,
                table.c.payload,
                table.c.attempts,
                table.c.received_at,
            )
        )
        .all()
    )
    rows = sorted(rows, key=lambda r: (r.received_at, r.id))
    return [ClaimedEvent(r.id, r.type, r.object_id, r.payload, r.attempts, r.received_at) for r in rows]


def renew_leases(session: Session, ids: Sequence[str], *, worker_id: str, lease_seconds: float) -> int:
    """Extend this worker's claims (a long batch must not look like a crashed worker)."""
    if not ids:
        return 0
    result = session.execute(
        update(WebhookEvent)
        .where(
            WebhookEvent.id.in_(ids),
            WebhookEvent.state == "processing",
            WebhookEvent.claimed_by == worker_id,
        )
        .values(claimed_until=lease_until(utcnow(), lease_seconds))
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return int(getattr(result, "rowcount", 0))


def finish_group(session: Session, outcomes: Sequence[tuple[str, str]], *, worker_id: str) -> bool:
    """Mark claimed events done, each with its state (processed | ignored), in the caller's
    transaction. False if any claim was lost: the caller must then roll back all of them."""
    by_state: dict[str, list[str]] = {}
    for event_id, state in outcomes:
        if state not in ("processed", "ignored"):
            raise ValueError(f"finish_group() sets processed or ignored, not {state!r}")
        by_state.setdefault(state, []).append(event_id)
    now = utcnow()
    for state, ids in by_state.items():
        table = _table()
        result = session.connection().execute(
            update(table)
            .where(table.c.id.in_(ids), table.c.state == "processing", table.c.claimed_by == worker_id)
            .values(released(state=state, processed_at=now, next_attempt_at=None))
        )
        if getattr(result, "rowcount", 0) != len(ids):
            return False
    return True


REQUEUABLE_STATES = ("failed", "dead", "processed", "ignored")


def requeue(session: Session, event_id: str, now: datetime | None = None) -> bool:
    """Replay an event (`paywire events replay`): due again at once with a fresh attempt
    budget, so a dead letter gets the full retry bound again; `last_error` stays for the
    record. Never an event being processed, nor a livemode mismatch. The caller commits."""
    now = now or utcnow()
    result = session.execute(
        update(WebhookEvent)
        .where(WebhookEvent.id == event_id, WebhookEvent.state.in_(REQUEUABLE_STATES))
        .values(released(state="pending", attempts=0, next_attempt_at=now))
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def fail(
    session: Session,
    event: ClaimedEvent,
    *,
    worker_id: str,
    error: str,
    policy: RetryPolicy,
    now: datetime | None = None,
) -> str | None:
    """Record a failed attempt: due again after a backoff, or dead after the bound.
    Returns the new state (None if the claim was lost). The caller commits."""
    return fail_claim(
        session,
        _table(),
        event.id,
        attempts=event.attempts,
        worker_id=worker_id,
        held_state="processing",
        retry_state="failed",
        error=error,
        policy=policy,
        now=now or utcnow(),
    )


def reclaim_expired(session: Session, *, policy: RetryPolicy, now: datetime | None = None) -> int:
    """Take back claims whose lease ran out (a worker crashed or hung): due again at once,
    or dead if the event already used up its attempts (it may be what kills workers).
    Commits; returns how many were reclaimed."""
    now = now or utcnow()
    expired = and_(WebhookEvent.state == "processing", WebhookEvent.claimed_until < now)
    error = "lease expired: the worker stopped while processing"
    dead = session.execute(
        update(WebhookEvent)
        .where(expired, WebhookEvent.attempts >= policy.max_attempts)
        .values(released(state="dead", last_error=error, next_attempt_at=None))
        .execution_options(synchronize_session=False)
    )
    retried = session.execute(
        update(WebhookEvent)
        .where(expired)
        .values(released(state="failed", last_error=error, next_attempt_at=now))
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return int(getattr(dead, "rowcount", 0)) + int(getattr(retried, "rowcount", 0))


def depth(session: Session) -> dict[str, int]:
    """How many events are in each state (for the inbox-depth gauge and operators)."""
    rows = session.execute(select(WebhookEvent.state, func.count()).group_by(WebhookEvent.state)).all()
    return {state: int(count) for state, count in rows}


def waiting(counts: dict[str, int]) -> int:
    """Events not yet worked off: the inbox depth."""
    return sum(counts.get(state, 0) for state in ("pending", "processing", "failed"))
