"""Webhook health, from the inbox, and open disputes, from the mirror.

Definitions (events received in the window, paywire's clock):
- received: verified and stored (acknowledged to Stripe); processed, ignored (no handler),
  pending, failed (waiting for a retry), dead (given up: dead letters).
- Delivery rate: events applied (processed or ignored) ÷ events settled (applied, failed, dead).
- Lag: from Stripe's `created` to applied (`processed_at`), in seconds: median, 95th
  percentile, largest. Events whose `created` is more than 3 days before (Stripe's retries
  stop then) or 5 minutes after their receipt carry a test clock's time and are left out.
Disputes: open while Stripe's status is `warning_needs_response`, `warning_under_review`,
`needs_response` or `under_review` (`disputes`, mirrored from `charge.dispute.*`); the deadline
is the evidence's `due_by`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from paywire.db.models import WebhookEvent
from paywire.db.repositories import disputes
from paywire.insights.windows import Window

RETRY_WINDOW = 3 * 86_400
CLOCK_MARGIN = 300


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return round(ordered[index], 3)


def webhook_health(session: Session, window: Window) -> dict[str, Any]:
    start, end = _moment(window.start), _moment(window.end)
    counts = dict(
        session.execute(
            select(WebhookEvent.state, func.count())
            .where(WebhookEvent.received_at >= start, WebhookEvent.received_at < end)
            .group_by(WebhookEvent.state)
        ).all()
    )
    rows = session.execute(
        select(WebhookEvent.event_created, WebhookEvent.received_at, WebhookEvent.processed_at).where(
            WebhookEvent.received_at >= start,
            WebhookEvent.received_at < end,
            WebhookEvent.processed_at.is_not(None),
            WebhookEvent.event_created.is_not(None),
        )
    ).all()
    lags = []
    for created, received, processed in rows:
        if created is None or processed is None:
            continue
        delivered = received.timestamp() - created
        if -CLOCK_MARGIN <= delivered <= RETRY_WINDOW:
            lags.append(max(0.0, processed.timestamp() - created))
    series = []
    for bucket in window.buckets():
        per_state = dict(
            session.execute(
                select(WebhookEvent.state, func.count())
                .where(
                    WebhookEvent.received_at >= _moment(bucket.start), WebhookEvent.received_at < _moment(bucket.end)
                )
                .group_by(WebhookEvent.state)
            ).all()
        )
        series.append(
            {
                "label": bucket.label,
                "received": sum(per_state.values()),
                "applied": per_state.get("processed", 0) + per_state.get("ignored", 0),
                "failed": per_state.get("failed", 0),
                "dead": per_state.get("dead", 0),
            }
        )
    applied = counts.get("processed", 0) + counts.get("ignored", 0)
    failed, dead = counts.get("failed", 0), counts.get("dead", 0)
    return {
        "received": sum(counts.values()),
        "processed": counts.get("processed", 0),
        "ignored": counts.get("ignored", 0),
        "pending": counts.get("pending", 0) + counts.get("processing", 0),
        "failed": failed,
        "dead": dead,
        "livemode_mismatch": counts.get("livemode_mismatch", 0),
        "delivery_rate": ratio(applied, applied + failed + dead),
        "series": series,
        "lag_seconds": {"p50": percentile(lags, 0.5), "p95": percentile(lags, 0.95), "max": percentile(lags, 1.0)},
    }


def open_disputes(session: Session) -> list[dict[str, Any]]:
    """Open disputes as the mirror keeps them (`disputes`), soonest deadline first."""
    return [
        {
            "dispute_id": d.id,
            "amount": d.amount,
            "currency": d.currency,
            "reason": d.reason,
            "status": d.status,
            "due_by": d.evidence_due_by,
            "user_id": d.user_id,
            "payment_id": d.payment_id,
            "submission_count": d.submission_count,
        }
        for d in disputes.open_by_deadline(session)
    ]


def _moment(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
