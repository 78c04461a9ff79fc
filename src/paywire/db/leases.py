"""Work claimed under a lease, shared by the inbox (`webhook_events`) and the outbox.

A worker claims rows for a while (`claimed_by`, `claimed_until`); if it dies, the lease runs
out and another takes the rows over. A failed attempt puts a row back after a backoff, or
makes it dead after the bound. Every write after the claim is conditional on the claim still
being this worker's: a worker whose lease was taken over changes nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, select, update
from sqlalchemy.orm import Session

# Room for the tail of a traceback, without letting one row bloat its table.
MAX_ERROR_LENGTH = 2000


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 2.0
    cap_seconds: float = 3600.0
    max_attempts: int = 15

    def delay(self, attempts: int, rng: random.Random | None = None) -> float:
        """Exponential backoff with jitter after the `attempts`-th failure: half the delay
        is fixed, half random, so failures of many rows at once spread out."""
        full = min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        return full / 2 + (rng or random).uniform(0, full / 2)


def released(**values: Any) -> dict[str, Any]:
    """Column values that end a claim, with the row's new values."""
    return {**values, "claimed_by": None, "claimed_until": None}


def claiming(session: Session, chosen: Select[Any], column: Any) -> ColumnElement[bool]:
    """`column IN chosen`, for the UPDATE that claims the rows `chosen` (their ids, ordered
    and limited) picks. PostgreSQL: the rows are locked skipping those another claim holds,
    in a materialized CTE, not a plain subquery: PostgreSQL may rescan a `LIMIT … FOR UPDATE`
    subquery once per updated row, skipping the rows this very UPDATE has changed, and so
    claim far more than the limit (all 100 due facts for a limit of 20). SQLite: the UPDATE
    holds the write lock while it chooses, so no other claim can slip in between."""
    if session.get_bind().dialect.name != "postgresql":
        return column.in_(chosen.scalar_subquery())
    locked = chosen.with_for_update(skip_locked=True).cte("chosen").prefix_with("MATERIALIZED")
    return column.in_(select(locked.c[0]))


def lease_until(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=seconds)


def fail_claim(
    session: Session,
    table: Table,
    row_id: Any,
    *,
    attempts: int,
    worker_id: str,
    held_state: str,
    retry_state: str,
    error: str,
    policy: RetryPolicy,
    now: datetime,
) -> str | None:
    """A claimed row's attempt failed: `retry_state` again after a backoff, or `dead` once
    `attempts` reached the bound. The new state, or None if the claim was lost. The caller
    commits."""
    dead = attempts >= policy.max_attempts
    state = "dead" if dead else retry_state
    result = session.execute(
        update(table)
        .where(table.c.id == row_id, table.c.state == held_state, table.c.claimed_by == worker_id)
        .values(
            released(
                state=state,
                last_error=error[-MAX_ERROR_LENGTH:],
                next_attempt_at=None if dead else now + timedelta(seconds=policy.delay(attempts)),
            )
        )
    )
    return state if getattr(result, "rowcount", 0) else None
