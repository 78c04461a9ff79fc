"""The business gauges of `/metrics` (defined in `paywire.metrics`), read from the database
when they are scraped, at most once every `REFRESH_SECONDS` per database: the alert rules in
`deploy/prometheus/alerts.yml` are written against them."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from paywire.db.models import WebhookEvent
from paywire.db.repositories import cursors, dunning
from paywire.db.repositories import disputes as dispute_rows
from paywire.db.repositories import refunds as refund_rows
from paywire.db.repositories import revenue as stored
from paywire.insights.payments import payments_report
from paywire.insights.report import ledger_changes
from paywire.insights.revenue import revenue_report
from paywire.insights.webhooks import open_disputes, webhook_health
from paywire.insights.windows import DAY, Window
from paywire.metrics import (
    ACTIVE_SUBSCRIBERS,
    ARPU,
    DISPUTE_NEXT_DEADLINE,
    DISPUTES_CLOSED,
    DISPUTES_LOST_AMOUNT,
    DISPUTES_OPEN,
    DUNNING_FAILED_INVOICES,
    DUNNING_LOST_INVOICES,
    DUNNING_OPEN_INVOICES,
    DUNNING_RECOVERED_AMOUNT,
    DUNNING_RECOVERED_INVOICES,
    DUNNING_RECOVERY_30D,
    INBOX_DEAD,
    INBOX_FAILED,
    INBOX_OLDEST_PENDING,
    LOGO_CHURN_30D,
    MRR,
    PAYMENT_ATTEMPTS_24H,
    PAYMENT_SUCCESS_24H,
    RECOVERY_COMPLETED_AT,
    REFUNDS,
    WEBHOOK_LAG_P95,
)

REFRESH_SECONDS = 10.0
# The recovery scan's cursor (paywire.events.recovery.CURSOR, a layer above this one).
RECOVERY_CURSOR = "events.recovery"

_lock = threading.Lock()
_refreshed: dict[str, float] = {}


def refresh(sessions: sessionmaker[Session], *, key: str, now: float | None = None) -> None:
    """Set the gauges from the database behind `sessions` (`key` names it), unless they were
    set from it less than `REFRESH_SECONDS` ago."""
    moment = time.time() if now is None else now
    with _lock:
        if moment - _refreshed.get(key, 0.0) < REFRESH_SECONDS:
            return
        _refreshed[key] = moment
    with sessions() as session:
        set_gauges(session, int(moment))


def set_gauges(session: Session, now: int) -> None:
    rows = stored.until(session, now)
    month = Window(now - 30 * DAY, now + 1, "month")
    revenue = revenue_report(ledger_changes(rows), month)
    for currency in sorted({row.currency for row in rows if row.currency}):
        # Amounts in different currencies are never added up: one MRR per currency.
        own = revenue_report(ledger_changes([row for row in rows if row.currency == currency]), month)
        MRR.labels(currency=currency).set(own.mrr / 100)
        ARPU.labels(currency=currency).set((own.arpu or 0) / 100)
    ACTIVE_SUBSCRIBERS.set(revenue.subscribers)
    churn = revenue.as_dict()["churn"]["logo_churn_rate"]
    LOGO_CHURN_30D.set(churn or 0)
    day = payments_report(session, Window(now - DAY, now + 1), recent=0)
    PAYMENT_ATTEMPTS_24H.set(day["attempts"])
    PAYMENT_SUCCESS_24H.set(1.0 if day["success_rate"] is None else day["success_rate"])
    recovery = payments_report(session, Window(now - 30 * DAY, now + 1), recent=0)["dunning"]
    DUNNING_RECOVERY_30D.set(recovery["recovery_rate"] or 0)
    cases = dunning.totals(session)
    DUNNING_FAILED_INVOICES.set(sum(cases.values()))
    DUNNING_LOST_INVOICES.set(cases.get("lost", 0))
    DUNNING_OPEN_INVOICES.set(cases.get("open", 0))
    for by in ("retry", "card_update"):
        DUNNING_RECOVERED_INVOICES.labels(by=by).set(dunning.recovered_by(session).get(by, 0))
    for currency, amount in dunning.recovered_amounts(session).items():
        DUNNING_RECOVERED_AMOUNT.labels(currency=currency).set(amount / 100)
    states = dict(session.execute(select(WebhookEvent.state, func.count()).group_by(WebhookEvent.state)).all())
    INBOX_FAILED.set(states.get("failed", 0))
    INBOX_DEAD.set(states.get("dead", 0))
    oldest = session.scalar(select(func.min(WebhookEvent.received_at)).where(WebhookEvent.state == "pending"))
    INBOX_OLDEST_PENDING.set(max(0.0, now - _aware(oldest).timestamp()) if oldest is not None else 0)
    lag = webhook_health(session, Window(now - 3600, now + 1))["lag_seconds"]["p95"]
    WEBHOOK_LAG_P95.set(lag or 0)
    cursor = cursors.find(session, RECOVERY_CURSOR)
    RECOVERY_COMPLETED_AT.set(_aware(cursor.scanned_at).timestamp() if cursor and cursor.scanned_at else 0)
    disputes = open_disputes(session)
    DISPUTES_OPEN.set(len(disputes))
    deadlines = [d["due_by"] for d in disputes if d["due_by"]]
    DISPUTE_NEXT_DEADLINE.set(min(deadlines) if deadlines else 0)
    # Labelled from what the database holds now (a label it no longer holds goes).
    for gauge in (DISPUTES_CLOSED, DISPUTES_LOST_AMOUNT, REFUNDS):
        gauge.clear()
    for outcome, count in dispute_rows.closed_totals(session).items():
        DISPUTES_CLOSED.labels(outcome=outcome).set(count)
    for currency, amount in dispute_rows.lost_amounts(session).items():
        DISPUTES_LOST_AMOUNT.labels(currency=currency).set(amount / 100)
    for status, count in refund_rows.totals(session).items():
        REFUNDS.labels(status=status).set(count)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
