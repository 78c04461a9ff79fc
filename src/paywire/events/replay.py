"""What an operator does with the inbox by hand: look at events by state, and send events
back to the worker (`paywire events list`, `paywire events replay`).

Replaying sets an event back to `pending`, due now, with a fresh set of attempts (its last
error stays, for the record), so the worker processes it again like a new delivery: handlers
re-read from Stripe, so replaying an event that was already processed is harmless too. An
event being processed is left alone (its worker finishes it), and a livemode mismatch is
never applied, so it is never replayed either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from paywire.db.models import WebhookEvent
from paywire.events import inbox

WHY_NOT = {
    "pending": "already waiting for the worker",
    "processing": "being processed right now",
    "livemode_mismatch": "never applied: its livemode differs from the configured key's",
}


@dataclass(frozen=True)
class Replayed:
    id: str
    type: str
    was: str  # the state it had, or "" if it was not found
    attempts: int
    last_error: str | None
    reset: bool

    @property
    def why_not(self) -> str:
        return WHY_NOT.get(self.was, "not in the inbox" if not self.was else f"is {self.was}")


def find_events(
    session: Session, *, states: Sequence[str] = (), event_type: str | None = None, limit: int = 50
) -> list[WebhookEvent]:
    """The newest events received, in some states and of a type (`invoice.*` for a family)."""
    query = select(WebhookEvent).order_by(WebhookEvent.received_at.desc(), WebhookEvent.id).limit(limit)
    if states:
        query = query.where(WebhookEvent.state.in_(states))
    if event_type:
        if event_type.endswith(".*"):
            query = query.where(WebhookEvent.type.startswith(event_type[:-1], autoescape=True))
        else:
            query = query.where(WebhookEvent.type == event_type)
    return list(session.scalars(query))


def replay(session: Session, event_ids: Sequence[str]) -> list[Replayed]:
    """Replay the named events; commits. One result per id, in the order given."""
    results = []
    for event_id in dict.fromkeys(event_ids):
        row = session.get(WebhookEvent, event_id)
        if row is None:
            results.append(Replayed(event_id, "", "", 0, None, False))
            continue
        was, attempts, error = row.state, row.attempts, row.last_error
        reset = inbox.requeue(session, event_id)
        results.append(Replayed(event_id, row.type, was, attempts, error, reset))
    session.commit()
    return results


def replay_state(session: Session, state: str) -> list[Replayed]:
    """Replay every event in `state` (failed or dead); commits."""
    if state not in ("failed", "dead"):
        raise ValueError(f"replay by state takes failed or dead, not {state!r}")
    ids = list(
        session.scalars(select(WebhookEvent.id).where(WebhookEvent.state == state).order_by(WebhookEvent.received_at))
    )
    return [r for r in replay(session, ids) if r.reset]
