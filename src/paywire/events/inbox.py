"""The inbox (`webhook_events`): every verified event stored once by id, then worked off.

An event's life:

    pending ──claim──▶ processing ──▶ processed | ignored (no handler knows the type)
                           │
                           ├─ handler error ──▶ failed, due again after a backoff ──claim──▶ …
                           │                      └─ after `max_attempts` ──▶ dead
                           └─ lease expired (the worker died) ──▶ failed, due at once
    livemode_mismatch: kept for the record, never claimed.

Workers claim with `FOR UPDATE SKIP LOCKED` on PostgreSQL and with one conditional UPDATE
on SQLite, oldest received first (a retried event keeps its place in the line). Two
events about the same Stripe object are never processing at once: a claim skips every
object that has a live claim, and takes at most one event per object.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, text, update
from sqlalchemy.orm import Session, aliased

from paywire.db.models import WebhookEvent, utcnow

# Storing lives with the receiver's writer (`paywire.events.store`); still importable from here.
from paywire.events.store import NewEvent as NewEvent
from paywire.events.store import new_event as new_event
from paywire.events.store import store as store

DUE_STATES = ("pending", "failed")
FINAL_STATES = ("processed", "ignored", "dead", "livemode_mismatch")
# Room for the tail of a traceback, without letting one event bloat the table.
MAX_ERROR_LENGTH = 2000
# PostgreSQL claims look at a few more rows than they take: some are skipped because
# another event about the same object comes first or is being processed.
SCAN_FACTOR = 4
LOCK_NAMESPACE = "paywire.inbox:"


@dataclass(frozen=True)
class ClaimedEvent:
    id: str
    type: str
    object_id: str | None
    payload: str
    attempts: int  # including the one just claimed


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 2.0
    cap_seconds: float = 3600.0
    max_attempts: int = 15

    def delay(self, attempts: int, rng: random.Random | None = None) -> float:
        """Exponential backoff with jitter after the `attempts`-th failure: half the delay
        is fixed, half random, so failures of many events at once spread out."""
        full = min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        return full / 2 + (rng or random).uniform(0, full / 2)


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
) -> list[ClaimedEvent]:
    """Claim up to `limit` due events, at most one per Stripe object and none about an
    object already being processed, and commit the claim."""
    now = now or utcnow()
    until = now + timedelta(seconds=lease_seconds)
    # SQLite chooses inside its one UPDATE (ids None); PostgreSQL locks and chooses first.
    ids = _choose_postgresql(session, limit, now) if session.get_bind().dialect.name == "postgresql" else None
    claimed = _mark_claimed(session, ids, worker_id=worker_id, until=until, now=now, limit=limit)
    session.commit()
    return claimed


def _choose_postgresql(session: Session, limit: int, now: datetime) -> list[str]:
    """Lock candidate rows (skipping rows other workers hold), then serialize per object
    with transaction-scoped advisory locks: two workers may lock different events about
    one object, but only one of them gets the object's lock. After taking it, look again
    (a fresh statement sees claims committed meanwhile) before keeping the object."""
    candidates = session.execute(
        select(WebhookEvent.id, WebhookEvent.object_id)
        .where(_due(now), or_(WebhookEvent.object_id.is_(None), ~_object_busy(now)))
        .order_by(WebhookEvent.received_at, WebhookEvent.id)
        .limit(limit * SCAN_FACTOR)
        .with_for_update(skip_locked=True, of=WebhookEvent)
    ).all()
    first_per_object: dict[str, str] = {}
    loose: list[str] = []
    for event_id, object_id in candidates:
        if object_id is None:
            loose.append(event_id)
        elif object_id not in first_per_object:
            first_per_object[object_id] = event_id
    objects = list(first_per_object)
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
        objects = [o for o in objects if o in locked_objects and o not in busy]
    chosen = set(loose) | {first_per_object[o] for o in objects}
    ordered = [event_id for event_id, _ in candidates if event_id in chosen]
    return ordered[:limit]


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


def _mark_claimed(
    session: Session,
    ids: Sequence[str] | None,
    *,
    worker_id: str,
    until: datetime,
    now: datetime,
    limit: int,
) -> list[ClaimedEvent]:
    if ids is not None:
        if not ids:
            return []
        target: Any = WebhookEvent.id.in_(ids)
    else:
        # SQLite: one statement holds the write lock while it chooses and claims, so no
        # other worker can slip in between; the window keeps one event per object.
        ranked = (
            select(
                WebhookEvent.id,
                WebhookEvent.received_at,
                func.row_number()
                .over(
                    partition_by=func.coalesce(WebhookEvent.object_id, WebhookEvent.id),
                    order_by=(WebhookEvent.received_at, WebhookEvent.id),
                )
                .label("rank"),
            )
            .where(_due(now), or_(WebhookEvent.object_id.is_(None), ~_object_busy(now)))
            .subquery()
        )
        target = WebhookEvent.id.in_(
            select(ranked.c.id).where(ranked.c.rank == 1).order_by(ranked.c.received_at, ranked.c.id).limit(limit)
        )
    rows = session.execute(
        update(WebhookEvent)
        .where(target, _due(now))
        .values(
            state="processing",
            claimed_by=worker_id,
            claimed_until=until,
            attempts=WebhookEvent.attempts + 1,
        )
        .returning(
            WebhookEvent.id,
            WebhookEvent.type,
            WebhookEvent.object_id,
            WebhookEvent.payload,
            WebhookEvent.attempts,
            WebhookEvent.received_at,
        )
        .execution_options(synchronize_session=False)
    ).all()
    rows = sorted(rows, key=lambda r: (r.received_at, r.id))
    return [ClaimedEvent(r.id, r.type, r.object_id, r.payload, r.attempts) for r in rows]


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
        .values(claimed_until=utcnow() + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return int(getattr(result, "rowcount", 0))


def finish(session: Session, event_id: str, *, worker_id: str, state: str = "processed") -> bool:
    """Mark a claimed event done, in the caller's transaction (with the mirror's writes).
    False if the claim was lost (the lease expired and another worker took it over): the
    caller must then roll back, and the other worker's result stands."""
    if state not in ("processed", "ignored"):
        raise ValueError(f"finish() sets processed or ignored, not {state!r}")
    result = session.execute(
        update(WebhookEvent)
        .where(
            WebhookEvent.id == event_id,
            WebhookEvent.state == "processing",
            WebhookEvent.claimed_by == worker_id,
        )
        .values(
            state=state,
            processed_at=utcnow(),
            # last_error stays: "processed on attempt 3, after: …" is worth keeping.
            next_attempt_at=None,
            claimed_by=None,
            claimed_until=None,
        )
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
    now = now or utcnow()
    dead = event.attempts >= policy.max_attempts
    state = "dead" if dead else "failed"
    next_at = None if dead else now + timedelta(seconds=policy.delay(event.attempts))
    result = session.execute(
        update(WebhookEvent)
        .where(
            WebhookEvent.id == event.id,
            WebhookEvent.state == "processing",
            WebhookEvent.claimed_by == worker_id,
        )
        .values(
            state=state,
            last_error=error[-MAX_ERROR_LENGTH:],
            next_attempt_at=next_at,
            claimed_by=None,
            claimed_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    return state if getattr(result, "rowcount", 0) else None


def reclaim_expired(session: Session, *, policy: RetryPolicy, now: datetime | None = None) -> int:
    """Take back claims whose lease ran out (a worker crashed or hung): due again at once,
    or dead if the event already used up its attempts (it may be what kills workers).
    Commits; returns how many were reclaimed."""
    now = now or utcnow()
    expired = and_(WebhookEvent.state == "processing", WebhookEvent.claimed_until < now)
    dead = session.execute(
        update(WebhookEvent)
        .where(expired, WebhookEvent.attempts >= policy.max_attempts)
        .values(
            state="dead",
            last_error="lease expired: the worker stopped while processing",
            next_attempt_at=None,
            claimed_by=None,
            claimed_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    retried = session.execute(
        update(WebhookEvent)
        .where(expired)
        .values(
            state="failed",
            last_error="lease expired: the worker stopped while processing",
            next_attempt_at=now,
            claimed_by=None,
            claimed_until=None,
        )
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
