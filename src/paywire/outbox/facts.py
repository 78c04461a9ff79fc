"""A business fact: something that happened to a customer, named by itself.

A fact's `key` names the fact, never the event that revealed it: a subscription is canceled
once (`subscription_canceled:sub_1`), an invoice's second failed attempt is one fact
(`payment_failed:in_1:2`) however many events (duplicates, coalesced ones) or writers (the
worker, a lifecycle operation, `paywire sync`) see it. The outbox keeps one row per key.

Facts are read from Stripe's freshest state, not from an event's snapshot: an event is only a
hint. Where the state alone cannot tell (a trial reminder, a failed attempt that left the
invoice open), the event's own module (`paywire.events.handlers`) takes its type as the hint
and the state as the check, so a stale hint (paid since) makes no fact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Fact:
    kind: str
    key: str
    user_id: str | None
    subject_id: str | None
    payload: dict[str, Any] = field(default_factory=dict)
    # Seconds before its reactions are due (a reminder); 0: at once.
    delay: float = 0.0
