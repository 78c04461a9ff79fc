"""The usage tables' queries: `usage_events` (what was recorded and how far it got to
Stripe) and `usage_error_reports` (what Stripe said it refused).

An event's life:

    pending ──sender claims, sends──▶ sent
       │  └── Stripe refuses it (v1 400, or an error report naming it) ──▶ failed
       └── cancelled before it was sent ──▶ canceled
    sent ──cancelled (within 24 h)──▶ cancel_pending ──adjustment sent──▶ canceled

Claims are leases (`claimed_by`, `claimed_until`): a sender that dies keeps its rows until the
lease runs out, then another sends them again with the same identifiers, which Stripe drops.
Every write after a claim is conditional on the claim being the writer's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, TextClause, and_, bindparam, case, func, or_, select, text, update
from sqlalchemy.orm import Session

from paywire.db.leases import MAX_ERROR_LENGTH, claiming, lease_until, released
from paywire.db.models import UsageErrorReport, UsageRecord, UTCDateTime, utcnow
from paywire.db.upsert import dialect_insert

# Rows per INSERT (each statement's rows travel as a few parameters, whatever their number).
INSERT_CHUNK = 1000
CANCEL_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class NewUsage:
    """A checked event, ready to be stored."""

    identifier: str
    user_id: str
    stripe_customer_id: str
    meter: str  # event name
    value: int
    timestamp: int


@dataclass(frozen=True)
class ClaimedUsage:
    id: int
    identifier: str
    user_id: str
    stripe_customer_id: str
    meter: str
    value: int
    timestamp: int
    attempts: int  # before this claim
    state: str
    recorded_at: datetime


@dataclass(frozen=True)
class Totals:
    """A user's usage of one meter over a span of time, by how far it got."""

    pending: int = 0  # recorded, not yet sent to Stripe
    sent: int = 0  # Stripe has it
    sent_before: int = 0  # of which sent before the moment asked about (reconciliation)
    refused: int = 0  # events Stripe refused (not billed)
    canceled: int = 0  # events cancelled

    @property
    def used(self) -> int:
        """What will be billed: recorded and neither cancelled nor refused."""
        return self.pending + self.sent


# The rows go as one parameter per column (PostgreSQL: arrays, unnested) or one JSON array
# (SQLite: json_each), not one parameter per value: binding values one by one cost ~40 µs a row
# of the writer's CPU on PostgreSQL (~6 µs this way), the better part of a batch's whole cost.
_COLUMNS = (
    "identifier, user_id, stripe_customer_id, meter, value, timestamp, recorded_at, state, attempts, next_attempt_at"
)
_INSERTS = {
    "postgresql": f"""INSERT INTO usage_events ({_COLUMNS})
        SELECT i, u, c, m, v, t, :now, 'pending', 0, :now
        FROM unnest(CAST(:i AS text[]), CAST(:u AS text[]), CAST(:c AS text[]), CAST(:m AS text[]),
                    CAST(:v AS bigint[]), CAST(:t AS bigint[])) AS x(i, u, c, m, v, t)
        ON CONFLICT (identifier) DO NOTHING RETURNING identifier""",
    "sqlite": f"""INSERT INTO usage_events ({_COLUMNS})
        SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),
               json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'),
               :now, 'pending', 0, :now
        FROM json_each(:rows) WHERE true
        ON CONFLICT (identifier) DO NOTHING RETURNING identifier""",
}
_STATEMENTS: dict[str, TextClause] = {}


def _insert(dialect: str) -> TextClause:
    statement = _STATEMENTS.get(dialect)
    if statement is None:
        statement = _STATEMENTS[dialect] = text(_INSERTS[dialect]).bindparams(bindparam("now", type_=UTCDateTime()))
    return statement


def store(connection: Connection, events: Sequence[NewUsage], now: datetime | None = None) -> set[str]:
    """Insert the events whose identifiers are new (one identifier once: the caller's first);
    the identifiers stored. The caller commits."""
    now = now or utcnow()
    dialect = connection.dialect.name
    statement = _insert(dialect)
    stored: set[str] = set()
    first: dict[str, NewUsage] = {}
    for event in events:
        first.setdefault(event.identifier, event)
    unique = list(first.values())
    for start in range(0, len(unique), INSERT_CHUNK):
        chunk = unique[start : start + INSERT_CHUNK]
        params: dict[str, Any]
        if dialect == "postgresql":
            params = {
                "now": now,
                "i": [e.identifier for e in chunk],
                "u": [e.user_id for e in chunk],
                "c": [e.stripe_customer_id for e in chunk],
                "m": [e.meter for e in chunk],
                "v": [e.value for e in chunk],
                "t": [e.timestamp for e in chunk],
            }
        else:
            rows = [(e.identifier, e.user_id, e.stripe_customer_id, e.meter, e.value, e.timestamp) for e in chunk]
            params = {"now": now, "rows": orjson.dumps(rows).decode()}
        stored.update(row[0] for row in connection.execute(statement, params))
    return stored


def _due(state: str, now: datetime) -> Any:
    return and_(
        UsageRecord.state == state,
        or_(UsageRecord.next_attempt_at.is_(None), UsageRecord.next_attempt_at <= now),
        or_(UsageRecord.claimed_until.is_(None), UsageRecord.claimed_until < now),
    )


def claim(
    session: Session, *, state: str, worker_id: str, limit: int, lease_seconds: float, now: datetime | None = None
) -> list[ClaimedUsage]:
    """Claim up to `limit` due rows in `state` (oldest first) under a lease, and commit."""
    now = now or utcnow()
    chosen = select(UsageRecord.id).where(_due(state, now)).order_by(UsageRecord.id).limit(limit)
    rows = session.execute(
        update(UsageRecord)
        .where(claiming(session, chosen, UsageRecord.id), _due(state, now))
        .values(claimed_by=worker_id, claimed_until=lease_until(now, lease_seconds))
        .returning(
            UsageRecord.id,
            UsageRecord.identifier,
            UsageRecord.user_id,
            UsageRecord.stripe_customer_id,
            UsageRecord.meter,
            UsageRecord.value,
            UsageRecord.timestamp,
            UsageRecord.attempts,
            UsageRecord.state,
            UsageRecord.recorded_at,
        )
        .execution_options(synchronize_session=False)
    ).all()
    session.commit()
    return sorted((ClaimedUsage(**row._mapping) for row in rows), key=lambda r: r.id)


def release(session: Session, ids: Sequence[int], *, worker_id: str) -> None:
    """Give claimed rows back untouched (due again at once); the caller commits."""
    if ids:
        session.execute(
            update(UsageRecord)
            .where(_mine(ids, worker_id))
            .values(released())
            .execution_options(synchronize_session=False)
        )


def _mine(ids: Iterable[int], worker_id: str) -> Any:
    return and_(UsageRecord.id.in_(list(ids)), UsageRecord.claimed_by == worker_id)


def mark_sent(
    session: Session, ids: Sequence[int], *, worker_id: str, via: str, now: datetime | None = None
) -> list[datetime]:
    """Stripe has these events. One cancelled meanwhile stays `cancel_pending`, released, for
    its adjustment to follow. When each event marked sent was recorded; the caller commits."""
    now = now or utcnow()
    if not ids:
        return []
    recorded = list(
        session.scalars(
            update(UsageRecord)
            .where(_mine(ids, worker_id), UsageRecord.state == "pending")
            .values(
                released(state="sent", sent_at=now, sent_via=via, last_error=None, attempts=UsageRecord.attempts + 1)
            )
            .returning(UsageRecord.recorded_at)
            .execution_options(synchronize_session=False)
        )
    )
    if len(recorded) < len(ids):
        session.execute(
            update(UsageRecord)
            .where(_mine(ids, worker_id), UsageRecord.state == "cancel_pending")
            .values(released(sent_at=now, sent_via=via))
            .execution_options(synchronize_session=False)
        )
    return recorded


def retry_later(
    session: Session,
    rows: Sequence[ClaimedUsage],
    *,
    worker_id: str,
    error: str,
    delay: float,
    now: datetime | None = None,
) -> None:
    """Sending failed for a reason that may pass: due again after `delay` seconds."""
    now = now or utcnow()
    if not rows:
        return
    session.execute(
        update(UsageRecord)
        .where(_mine((r.id for r in rows), worker_id))
        .values(
            released(
                attempts=UsageRecord.attempts + 1,
                next_attempt_at=now + timedelta(seconds=delay),
                last_error=error[-MAX_ERROR_LENGTH:],
            )
        )
        .execution_options(synchronize_session=False)
    )


def mark_failed(session: Session, row_id: int, *, worker_id: str, error: str) -> None:
    """Stripe refused the event itself: it will never be billed."""
    session.execute(
        update(UsageRecord)
        .where(_mine([row_id], worker_id), UsageRecord.state == "pending")
        .values(released(state="failed", last_error=error[-MAX_ERROR_LENGTH:], attempts=UsageRecord.attempts + 1))
        .execution_options(synchronize_session=False)
    )


def mark_canceled(session: Session, ids: Sequence[int], *, worker_id: str, now: datetime | None = None) -> None:
    if not ids:
        return
    session.execute(
        update(UsageRecord)
        .where(_mine(ids, worker_id), UsageRecord.state == "cancel_pending")
        .values(released(state="canceled", canceled_at=now or utcnow(), last_error=None))
        .execution_options(synchronize_session=False)
    )


def mark_cancel_refused(session: Session, row_id: int, *, worker_id: str, error: str) -> None:
    """Stripe would not cancel it (its 24 hours were over): it stays billed, and says why."""
    session.execute(
        update(UsageRecord)
        .where(_mine([row_id], worker_id), UsageRecord.state == "cancel_pending")
        .values(released(state="sent", canceled_at=None, last_error=error[-MAX_ERROR_LENGTH:]))
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class Found:
    identifier: str
    user_id: str
    meter: str
    state: str
    recorded_at: datetime


def find(session: Session, identifier: str) -> Found | None:
    row = session.execute(
        select(
            UsageRecord.identifier,
            UsageRecord.user_id,
            UsageRecord.meter,
            UsageRecord.state,
            UsageRecord.recorded_at,
        ).where(UsageRecord.identifier == identifier)
    ).first()
    return Found(*row) if row is not None else None


def request_cancel(session: Session, identifier: str, now: datetime | None = None) -> str:
    """Cancel an event recorded within the last 24 hours. Returns its state afterwards:
    `canceled` (it had not been sent: nothing reaches Stripe), `cancel_pending` (the sender
    cancels Stripe's copy), or what it already was; `not_found`, `too_late`. The caller commits."""
    now = now or utcnow()
    found = find(session, identifier)
    if found is None:
        return "not_found"
    if found.state in ("canceled", "cancel_pending"):
        return found.state
    if found.recorded_at < now - CANCEL_WINDOW:
        return "too_late"
    unsent = session.execute(
        update(UsageRecord)
        .where(
            UsageRecord.identifier == identifier,
            UsageRecord.state.in_(("pending", "failed")),
            or_(UsageRecord.claimed_until.is_(None), UsageRecord.claimed_until < now),
            UsageRecord.sent_at.is_(None),
        )
        .values(released(state="canceled", canceled_at=now))
        .execution_options(synchronize_session=False)
    )
    if getattr(unsent, "rowcount", 0):
        return "canceled"
    # Sent, or being sent right now: Stripe's copy is cancelled by an adjustment.
    session.execute(
        update(UsageRecord)
        .where(UsageRecord.identifier == identifier, UsageRecord.state.in_(("pending", "sent", "failed")))
        .values(state="cancel_pending", canceled_at=now, next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    return "cancel_pending"


def totals(
    session: Session,
    user_id: str,
    meter: str,
    start: int,
    end: int,
    *,
    formula: str = "sum",
    sent_before: datetime | None = None,
) -> Totals:
    """The user's usage of `meter` with timestamps in [start, end), by state, added up by the
    meter's formula (`count`: events; `last`: the latest event's value, see `last_value`);
    `sent_before` also counts what was sent before that moment."""
    state = UsageRecord.state
    value: Any = UsageRecord.value if formula == "sum" else 1
    early = state == "sent" if sent_before is None else and_(state == "sent", UsageRecord.sent_at < sent_before)

    def total(condition: Any, amount: Any = value) -> Any:
        return func.coalesce(func.sum(case((condition, amount), else_=0)), 0)

    row = session.execute(
        select(
            total(state == "pending"),
            total(state == "sent"),
            total(early),
            total(state == "failed", 1),
            total(state.in_(("canceled", "cancel_pending")), 1),
        ).where(
            UsageRecord.user_id == user_id,
            UsageRecord.meter == meter,
            UsageRecord.timestamp >= start,
            UsageRecord.timestamp < end,
        )
    ).one()
    found = Totals(*(int(v) for v in row))
    if formula == "last":
        latest = last_value(session, user_id, meter, start, end)
        return Totals(pending=0, sent=latest, sent_before=latest, refused=found.refused, canceled=found.canceled)
    return found


def last_value(session: Session, user_id: str, meter: str, start: int, end: int) -> int:
    """The value of the latest event (by its time) that will be billed, for `last` meters."""
    found = session.scalar(
        select(UsageRecord.value)
        .where(
            UsageRecord.user_id == user_id,
            UsageRecord.meter == meter,
            UsageRecord.timestamp >= start,
            UsageRecord.timestamp < end,
            UsageRecord.state.in_(("pending", "sent")),
        )
        .order_by(UsageRecord.timestamp.desc(), UsageRecord.id.desc())
        .limit(1)
    )
    return int(found or 0)


def depth(session: Session) -> dict[str, int]:
    """Rows by state (for `/metrics` and `paywire usage status`)."""
    return {
        str(state): int(count)
        for state, count in session.execute(select(UsageRecord.state, func.count()).group_by(UsageRecord.state))
    }


def oldest_pending(session: Session) -> datetime | None:
    found: datetime | None = session.scalar(
        select(func.min(UsageRecord.recorded_at)).where(UsageRecord.state == "pending")
    )
    return found


def store_report(session: Session, report: dict[str, Any]) -> bool:
    """Keep an error report once (by event id); True if it is new. The caller commits."""
    statement = (
        dialect_insert(session, UsageErrorReport)
        .values(**report, received_at=utcnow())
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(UsageErrorReport.id)
    )
    return session.execute(statement).first() is not None


def refused_by_report(session: Session, errors: dict[str, str]) -> int:
    """Events an error report names (identifier -> why): refused, so never billed. Sent ones
    become `failed`; how many did."""
    if not errors:
        return 0
    marked = 0
    for identifier, why in errors.items():
        result = session.execute(
            update(UsageRecord)
            .where(UsageRecord.identifier == identifier, UsageRecord.state.in_(("sent", "pending")))
            .values(state="failed", last_error=why[-MAX_ERROR_LENGTH:])
            .execution_options(synchronize_session=False)
        )
        marked += int(getattr(result, "rowcount", 0) or 0)
    return marked


def latest_report_created(session: Session) -> str | None:
    found: str | None = session.scalar(select(func.max(UsageErrorReport.created)))
    return found


def recent_reports(session: Session, limit: int = 50) -> Sequence[UsageErrorReport]:
    return session.scalars(
        select(UsageErrorReport).order_by(UsageErrorReport.created.desc(), UsageErrorReport.id).limit(limit)
    ).all()
