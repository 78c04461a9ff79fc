"""The operator's report: every metric of a window, as `GET /api/admin/metrics`, `paywire
metrics` and the `/admin` dashboard show it. Each part's module defines its figures.

Trial conversion (here): of the trials that ended in the window (Stripe time), the share whose
subscription went on to pay (a ledger row worth more than 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from paywire.db.models import RevenueChange, Subscription
from paywire.db.repositories import revenue as stored
from paywire.insights.payments import cancellations, payments_report
from paywire.insights.revenue import revenue_report
from paywire.insights.webhooks import open_disputes, webhook_health
from paywire.insights.windows import Window
from paywire.revenue.movements import Change


def ledger_changes(rows: Sequence[RevenueChange]) -> list[Change]:
    return [
        Change(
            at=row.occurred_at,
            customer=row.stripe_customer_id,
            subscription=row.subscription_id,
            before=row.mrr_before,
            after=row.mrr_after,
            cause=row.cause,
            churn=row.churn,
            user_id=row.user_id,
        )
        for row in rows
    ]


def changes_until(session: Session, until: int) -> list[Change]:
    return ledger_changes(stored.until(session, until))


def trial_conversion(session: Session, window: Window) -> dict[str, Any]:
    ended = session.scalars(
        select(Subscription.id).where(
            Subscription.trial_start.is_not(None),
            Subscription.trial_end >= window.start,
            Subscription.trial_end < window.end,
            Subscription.status != "trialing",
        )
    ).all()
    paid = set(
        session.scalars(
            select(RevenueChange.subscription_id).where(
                RevenueChange.subscription_id.in_(ended), RevenueChange.mrr_after > 0
            )
        ).all()
    )
    return {
        "ended": len(ended),
        "converted": len(paid),
        "conversion_rate": round(len(paid) / len(ended), 4) if ended else None,
    }


def currencies(session: Session) -> list[str]:
    found = session.scalars(select(RevenueChange.currency).distinct()).all()
    return sorted(c for c in found if c)


def operator_report(session: Session, window: Window, *, webhooks_window: Window | None = None) -> dict[str, Any]:
    """Everything, for `window` (revenue and payments in Stripe's time; webhooks in paywire's,
    `webhooks_window` when it differs)."""
    revenue = revenue_report(changes_until(session, window.end - 1), window)
    disputes = open_disputes(session)
    return {
        "window": {"from": window.start, "to": window.end, "interval": window.interval},
        "currencies": currencies(session),
        "revenue": revenue.as_dict(),
        "trials": trial_conversion(session, window),
        "payments": payments_report(session, window),
        "webhooks": webhook_health(session, webhooks_window or window),
        "disputes": {"open": len(disputes), "list": disputes},
        "cancellations": cancellations(session, window),
    }
