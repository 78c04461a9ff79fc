"""What the worker says about each event it handled: one log line and its counters, whatever
happened (processed, ignored, failed, dead, or lost to another worker)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from paywire.events.inbox import ClaimedEvent
from paywire.metrics import (
    WEBHOOK_PROCESSING_SECONDS,
    WEBHOOKS_COALESCED,
    WEBHOOKS_DEAD,
    WEBHOOKS_FAILED,
    WEBHOOKS_PROCESSED,
    WEBHOOKS_UNHANDLED,
)

log = logging.getLogger("paywire.events.worker")


@dataclass(frozen=True)
class Outcome:
    state: str  # processed | ignored | failed | dead | lost (the claim was taken over)
    note: str = ""


def report(group: Sequence[ClaimedEvent], outcomes: dict[str, Outcome], elapsed: float, *, batch: int) -> None:
    """Count and log each event of a group (events about one object, handled together)."""
    if len(group) > 1:
        WEBHOOKS_COALESCED.inc(len(group) - 1)
    for event in group:
        outcome = outcomes[event.id]
        WEBHOOK_PROCESSING_SECONDS.observe(elapsed / len(group))
        count(event.type, outcome.state)
        log.log(
            logging.WARNING if outcome.state in ("failed", "dead", "lost") else logging.INFO,
            "webhook event=%s type=%s object=%s outcome=%s attempt=%d group=%d batch=%d duration_ms=%.1f note=%s",
            event.id,
            event.type,
            event.object_id,
            outcome.state,
            event.attempts,
            len(group),
            batch,
            elapsed * 1000,
            json.dumps(outcome.note),
            extra={
                "event_id": event.id,
                "event_type": event.type,
                "object_id": event.object_id,
                "outcome": outcome.state,
                "attempt": event.attempts,
                "group": len(group),
                "batch": batch,
                "duration_ms": round(elapsed * 1000, 1),
            },
        )


def count(event_type: str, state: str) -> None:
    if state == "processed":
        WEBHOOKS_PROCESSED.labels(type=event_type).inc()
    elif state == "ignored":
        WEBHOOKS_UNHANDLED.labels(type=event_type).inc()
    elif state in ("failed", "dead"):
        WEBHOOKS_FAILED.labels(type=event_type).inc()
        if state == "dead":
            WEBHOOKS_DEAD.labels(type=event_type).inc()
