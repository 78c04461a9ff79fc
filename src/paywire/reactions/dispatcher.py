"""Delivering outbox facts to their reactions: at least once, each reaction recorded once.

Per fact: the reactions not yet in `reaction_log` run one by one; each one's record
commits right after it (with its database effect, if any), so a crash repeats at most the
reaction that was running. When all are recorded the fact is done. A failing reaction
puts the fact back with a backoff (the ones already recorded are not repeated), dead
after the bound: visible in `/metrics` and in the `outbox` table.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy.orm import Session

from paywire import crashpoints
from paywire.db.leases import RetryPolicy
from paywire.metrics import OUTBOX_DEAD, REACTIONS_DONE, REACTIONS_FAILED
from paywire.outbox import store as outbox
from paywire.reactions.registry import ReactionContext, Registry

log = logging.getLogger("paywire.reactions")


class Dispatcher:
    def __init__(
        self,
        *,
        sessions: Callable[[], Session],
        registry: Registry,
        worker_id: str,
        retry: RetryPolicy,
        batch_size: int = 20,
        lease_seconds: float = 60.0,
    ) -> None:
        self.sessions = sessions
        self.registry = registry
        self.worker_id = worker_id
        self.retry = retry
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds

    def dispatch_once(self) -> int:
        """Claim a batch of due facts and deliver each; how many were claimed."""
        with self.sessions() as session:
            claimed = outbox.claim(
                session, worker_id=self.worker_id, limit=self.batch_size, lease_seconds=self.lease_seconds
            )
        for fact in claimed:
            self.deliver(fact)
        return len(claimed)

    def deliver(self, fact: outbox.ClaimedFact) -> str:
        started = time.perf_counter()
        try:
            outcome, note = self._react(fact)
        except Exception as exc:
            outcome, note = self._record_failure(fact, exc), f"{type(exc).__name__}: {exc}"
        log.log(
            logging.WARNING if outcome in ("failed", "dead", "lost") else logging.INFO,
            "reaction fact=%d kind=%s key=%s outcome=%s attempt=%d duration_ms=%.1f note=%s",
            fact.id,
            fact.kind,
            fact.dedup_key,
            outcome,
            fact.attempts,
            (time.perf_counter() - started) * 1000,
            note,
        )
        return outcome

    def _react(self, fact: outbox.ClaimedFact) -> tuple[str, str]:
        notes = []
        with self.sessions() as session:
            done = outbox.reactions_done(session, fact.id)
            for name, reaction in self.registry.for_kind(fact.kind).items():
                if name in done:
                    continue
                detail = reaction(ReactionContext(session, self.registry.email), fact)
                crashpoints.reached("reaction_done_before_record")
                if not outbox.record_reaction(session, fact.id, name, detail):
                    session.rollback()  # another dispatcher recorded it first: its effect stands
                    continue
                session.commit()
                REACTIONS_DONE.labels(kind=fact.kind, reaction=name).inc()
                notes.append(f"{name}: {detail}")
            if not outbox.complete(session, fact.id, worker_id=self.worker_id):
                session.rollback()
                return "lost", "the claim expired and was taken over"
            session.commit()
        return "done", "; ".join(notes) or "no reactions"

    def _record_failure(self, fact: outbox.ClaimedFact, exc: Exception) -> str:
        REACTIONS_FAILED.labels(kind=fact.kind).inc()
        with self.sessions() as session:
            state = outbox.fail(
                session, fact, worker_id=self.worker_id, error=f"{type(exc).__name__}: {exc}", policy=self.retry
            )
            session.commit()
        if state == "dead":
            OUTBOX_DEAD.labels(kind=fact.kind).inc()
            return "dead"
        return "lost" if state is None else "failed"
