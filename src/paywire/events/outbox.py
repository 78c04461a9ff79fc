"""The outbox (`outbox`) and the reaction ledger (`reaction_log`): their queries.

A fact's life:

    pending ──claim──▶ (claimed under a lease) ──▶ done
                              │
                              └─ a reaction failed ──▶ pending, due after a backoff … ──▶ dead

`record` writes facts in the caller's transaction (the mirror's), one row per `dedup_key`
whoever records it first. Delivery is at least once: a dispatcher that dies keeps its
claim until the lease runs out, then another takes the fact over. What each reaction
already did is in `reaction_log` (unique per fact and reaction), so a retry only does the
rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from paywire.db.models import OutboxFact, ReactionRecord, utcnow
from paywire.events.inbox import MAX_ERROR_LENGTH, RetryPolicy
from paywire.reactions.facts import Fact


@dataclass(frozen=True)
class ClaimedFact:
    id: int
    kind: str
    dedup_key: str
    user_id: str | None
    subject_id: str | None
    payload: dict[str, Any]
    attempts: int  # including the one just claimed


def _insert(session: Session, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return pg_insert(table)
    if dialect == "sqlite":
        return sqlite_insert(table)
    raise NotImplementedError(f"no outbox for {dialect}")  # pragma: no cover


class KnownFacts:
    """Fact keys a worker knows are committed in the outbox, so it need not insert them again
    (an active subscription's `access_granted` would otherwise be tried on every write of
    it). Keys recorded in the open transaction count only once it commits (`committed`);
    after a rollback or a database error they are forgotten (`rolled_back`, `clear`). Rows
    of the outbox are never deleted, so a key once committed stays known. Bounded: the
    oldest keys are dropped first (and then simply inserted again, conflicting)."""

    def __init__(self, limit: int = 50_000) -> None:
        self.limit = limit
        self._committed: dict[str, None] = {}
        self._pending: set[str] = set()
        self._new = 0  # facts the open transaction added to the outbox

    def __contains__(self, key: str) -> bool:
        return key in self._committed

    def add_pending(self, key: str, *, new: bool) -> None:
        self._pending.add(key)
        self._new += new

    def committed(self) -> int:
        """The open transaction committed; how many new facts it added."""
        for key in self._pending:
            self._committed[key] = None
        new, self._new = self._new, 0
        self._pending.clear()
        while len(self._committed) > self.limit:
            del self._committed[next(iter(self._committed))]
        return new

    def rolled_back(self) -> None:
        self._pending.clear()
        self._new = 0

    def clear(self) -> None:
        self._committed.clear()
        self.rolled_back()


def record(
    session: Session,
    facts: Iterable[Fact],
    *,
    source_event_id: str | None = None,
    known: KnownFacts | None = None,
) -> list[str]:
    """Add facts not yet in the outbox (by key), in the caller's transaction; the keys this
    call added. Nothing is flushed early: a rolled-back transaction leaves no fact. `known`:
    keys already committed are skipped, and the keys of this call become known once the
    caller reports its commit."""
    added: list[str] = []
    now = utcnow()
    for fact in {f.key: f for f in facts}.values():
        if known is not None and fact.key in known:
            continue
        statement = (
            _insert(session, OutboxFact)
            .values(
                dedup_key=fact.key,
                kind=fact.kind,
                user_id=fact.user_id,
                subject_id=fact.subject_id,
                payload=fact.payload,
                source_event_id=source_event_id,
                state="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["dedup_key"])
            .returning(OutboxFact.dedup_key)
        )
        new = session.execute(statement).first() is not None
        if new:
            added.append(fact.key)
        if known is not None:
            known.add_pending(fact.key, new=new)  # added now or already there: known once committed
    return added


def _due(now: datetime) -> Any:
    return and_(
        OutboxFact.state == "pending",
        or_(OutboxFact.next_attempt_at.is_(None), OutboxFact.next_attempt_at <= now),
        or_(OutboxFact.claimed_until.is_(None), OutboxFact.claimed_until < now),
    )


def claim(
    session: Session, *, worker_id: str, limit: int, lease_seconds: float, now: datetime | None = None
) -> list[ClaimedFact]:
    """Claim up to `limit` due facts (oldest first) under a lease, and commit the claim. A
    claim whose lease ran out (its dispatcher died) is due again without a reclaim step."""
    now = now or utcnow()
    chosen = select(OutboxFact.id).where(_due(now)).order_by(OutboxFact.next_attempt_at, OutboxFact.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        chosen = chosen.with_for_update(skip_locked=True)
    rows = session.execute(
        update(OutboxFact)
        .where(OutboxFact.id.in_(chosen.scalar_subquery()), _due(now))
        .values(
            claimed_by=worker_id,
            claimed_until=now + timedelta(seconds=lease_seconds),
            attempts=OutboxFact.attempts + 1,
        )
        .returning(
            OutboxFact.id,
            OutboxFact.kind,
            OutboxFact.dedup_key,
            OutboxFact.user_id,
            OutboxFact.subject_id,
            OutboxFact.payload,
            OutboxFact.attempts,
        )
        .execution_options(synchronize_session=False)
    ).all()
    session.commit()
    return sorted((ClaimedFact(*row) for row in rows), key=lambda f: f.id)


def reactions_done(session: Session, outbox_id: int) -> set[str]:
    return set(session.scalars(select(ReactionRecord.reaction).where(ReactionRecord.outbox_id == outbox_id)))


def record_reaction(session: Session, outbox_id: int, reaction: str, detail: str | None = None) -> bool:
    """Note that `reaction` was done for the fact, in the caller's transaction; False if it
    was already noted (another dispatcher did it meanwhile: roll back your own effect if it
    was a database one)."""
    statement = (
        _insert(session, ReactionRecord)
        .values(outbox_id=outbox_id, reaction=reaction, detail=detail, done_at=utcnow())
        .on_conflict_do_nothing(index_elements=["outbox_id", "reaction"])
        .returning(ReactionRecord.id)
    )
    return session.execute(statement).first() is not None


def complete(session: Session, outbox_id: int, *, worker_id: str) -> bool:
    """Every reaction is done: the fact is done. False if the claim was lost."""
    result = session.execute(
        update(OutboxFact)
        .where(OutboxFact.id == outbox_id, OutboxFact.state == "pending", OutboxFact.claimed_by == worker_id)
        .values(state="done", done_at=utcnow(), claimed_by=None, claimed_until=None, next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def fail(
    session: Session,
    fact: ClaimedFact,
    *,
    worker_id: str,
    error: str,
    policy: RetryPolicy,
    now: datetime | None = None,
) -> str | None:
    """A reaction failed: due again after a backoff, or dead after the bound. Returns the
    state (None if the claim was lost). The caller commits."""
    now = now or utcnow()
    dead = fact.attempts >= policy.max_attempts
    result = session.execute(
        update(OutboxFact)
        .where(OutboxFact.id == fact.id, OutboxFact.state == "pending", OutboxFact.claimed_by == worker_id)
        .values(
            state="dead" if dead else "pending",
            last_error=error[-MAX_ERROR_LENGTH:],
            next_attempt_at=None if dead else now + timedelta(seconds=policy.delay(fact.attempts)),
            claimed_by=None,
            claimed_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        return None
    return "dead" if dead else "pending"


def requeue(session: Session, outbox_id: int, now: datetime | None = None) -> bool:
    """Deliver a dead fact again with a fresh attempt budget (reactions already recorded
    are not repeated). The caller commits."""
    result = session.execute(
        update(OutboxFact)
        .where(OutboxFact.id == outbox_id, OutboxFact.state == "dead")
        .values(state="pending", attempts=0, next_attempt_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def depth(session: Session) -> dict[str, int]:
    rows = session.execute(select(OutboxFact.state, func.count()).group_by(OutboxFact.state)).all()
    return {state: int(count) for state, count in rows}


def facts_of(session: Session, *, kind: str | None = None, keys: Sequence[str] = ()) -> list[OutboxFact]:
    query = select(OutboxFact).order_by(OutboxFact.id)
    if kind is not None:
        query = query.where(OutboxFact.kind == kind)
    if keys:
        query = query.where(OutboxFact.dedup_key.in_(keys))
    return list(session.scalars(query))
