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

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, func, or_, select, update
from sqlalchemy.orm import Session

from paywire.db.leases import RetryPolicy, claiming, fail_claim, lease_until, released
from paywire.db.models import OutboxFact, ReactionRecord, utcnow
from paywire.db.upsert import dialect_insert, page_params, page_statement
from paywire.outbox.facts import Fact

OUTBOX = cast(Table, OutboxFact.__table__)


@dataclass(frozen=True)
class ClaimedFact:
    id: int
    kind: str
    dedup_key: str
    user_id: str | None
    subject_id: str | None
    payload: dict[str, Any]
    attempts: int  # including the one just claimed


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
    now = utcnow()
    wanted = [f for f in {f.key: f for f in facts}.values() if known is None or f.key not in known]
    if not wanted:
        return []
    rows = [
        {
            "dedup_key": fact.key,
            "kind": fact.kind,
            "user_id": fact.user_id,
            "subject_id": fact.subject_id,
            "payload": fact.payload,
            "source_event_id": source_event_id,
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": now + timedelta(seconds=fact.delay) if fact.delay else now,
            "created_at": now,
        }
        for fact in wanted
    ]
    # One statement for all of them (a sync records a page's facts at once); the keys returned
    # are the rows inserted, a key already there returns nothing.
    statement = page_statement(session, OUTBOX, tuple(rows[0]), "outbox record", _new_keys_returned)
    inserted = set(session.scalars(statement, page_params(session, OUTBOX, rows)))
    added = [fact.key for fact in wanted if fact.key in inserted]
    if known is not None:
        for fact in wanted:
            known.add_pending(fact.key, new=fact.key in inserted)  # added now or already there: known once committed
    return added


def _new_keys_returned(insert: Any) -> Any:
    """Only the rows whose key is new are added, and their keys returned."""
    return insert.on_conflict_do_nothing(index_elements=["dedup_key"]).returning(OUTBOX.c.dedup_key)


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
    rows = session.execute(
        update(OutboxFact)
        .where(claiming(session, chosen, OutboxFact.id), _due(now))
        .values(
            claimed_by=worker_id,
            claimed_until=lease_until(now, lease_seconds),
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
        dialect_insert(session, ReactionRecord)
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
        .values(released(state="done", done_at=utcnow(), next_attempt_at=None))
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
    return fail_claim(
        session,
        cast(Table, OutboxFact.__table__),
        fact.id,
        attempts=fact.attempts,
        worker_id=worker_id,
        held_state="pending",
        retry_state="pending",
        error=error,
        policy=policy,
        now=now or utcnow(),
    )


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


def told_to_user(session: Session, user_id: str, kinds: Iterable[str], reaction: str = "email") -> list[dict[str, Any]]:
    """What `reaction` did for the user's facts of `kinds` (a mail sent: its detail names the
    Message-ID), oldest first: `{kind, key, payload, detail, done_at}`."""
    rows = session.execute(
        select(OutboxFact.kind, OutboxFact.dedup_key, OutboxFact.payload, ReactionRecord.detail, ReactionRecord.done_at)
        .join(ReactionRecord, ReactionRecord.outbox_id == OutboxFact.id)
        .where(
            OutboxFact.user_id == user_id, OutboxFact.kind.in_(sorted(set(kinds))), ReactionRecord.reaction == reaction
        )
        .order_by(ReactionRecord.done_at, OutboxFact.id)
    ).all()
    return [
        {"kind": kind, "key": key, "payload": payload or {}, "detail": detail, "done_at": done_at}
        for kind, key, payload, detail, done_at in rows
    ]
