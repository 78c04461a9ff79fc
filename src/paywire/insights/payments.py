"""Payments from the mirror: success rate, dunning, the failed payments to look at.

Definitions (over the window, by the invoice's `created`, Stripe time; a one-time purchase by
when its access started, else when it was started):
- Payment success rate: payments that went through ÷ payment attempts. A subscription invoice
  with something to pay counts each attempt Stripe made (`attempt_count`) and one success if
  paid; a one-time purchase counts one attempt, a success if paid (refunded later or not).
- Dunning recovery rate: of the subscription invoices whose payment failed at least once and
  whose dunning is over (paid, or given up: void, uncollectible, or open with no retry left),
  the share finally paid. Invoices still being retried are counted apart (`in_dunning`). Read
  from paywire's dunning cases (`dunning_cases`) when the window has any, else from the
  invoices (a mirror filled by `paywire sync` alone has no cases).
Disputes and Stripe's own dunning emails are other pieces; the dunning state shown here is
the invoice's: attempts so far and the next retry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from paywire.db.models import Invoice, Order, Subscription
from paywire.db.repositories import dunning as dunning_cases
from paywire.insights.windows import Window

PAID_ORDER_STATES = ("paid", "fulfilled", "refunded")


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass(frozen=True)
class FailedPayment:
    invoice_id: str
    user_id: str | None
    subscription_id: str | None
    amount_due: int
    currency: str | None
    status: str | None
    attempts: int
    next_attempt: int | None
    created: int
    hosted_invoice_url: str | None

    @property
    def dunning(self) -> str:
        """Where the invoice stands in dunning, in words."""
        if self.status == "paid":
            return "recovered"
        if self.status in ("void", "uncollectible"):
            return "given up"
        if self.next_attempt:
            return "retrying"
        return "no retry left"

    def as_dict(self) -> dict[str, Any]:
        return {
            "invoice_id": self.invoice_id,
            "user_id": self.user_id,
            "subscription_id": self.subscription_id,
            "amount_due": self.amount_due,
            "currency": self.currency,
            "status": self.status,
            "attempts": self.attempts,
            "next_payment_attempt": self.next_attempt,
            "created": self.created,
            "dunning": self.dunning,
        }


def _failed_once(invoice: Invoice) -> bool:
    if invoice.status == "paid":
        return invoice.attempt_count > 1
    return invoice.attempt_count >= 1


def payments_report(session: Session, window: Window, *, recent: int = 10) -> dict[str, Any]:
    invoices = session.scalars(
        select(Invoice).where(
            Invoice.subscription_id.is_not(None),
            Invoice.amount_due > 0,
            Invoice.stripe_created >= window.start,
            Invoice.stripe_created < window.end,
        )
    ).all()
    attempts = sum(i.attempt_count for i in invoices)
    succeeded = sum(1 for i in invoices if i.status == "paid")
    orders = [
        order
        for order in session.scalars(select(Order).where(Order.status.in_((*PAID_ORDER_STATES, "failed")))).all()
        if window.start <= _order_time(order) < window.end
    ]
    attempts += len(orders)
    succeeded += sum(1 for o in orders if o.status in PAID_ORDER_STATES)
    series = []
    for bucket in window.buckets():
        tried = [i for i in invoices if bucket.start <= i.stripe_created < bucket.end]
        bought = [o for o in orders if bucket.start <= _order_time(o) < bucket.end]
        bucket_attempts = sum(i.attempt_count for i in tried) + len(bought)
        bucket_paid = sum(1 for i in tried if i.status == "paid") + sum(
            1 for o in bought if o.status in PAID_ORDER_STATES
        )
        series.append(
            {
                "label": bucket.label,
                "attempts": bucket_attempts,
                "succeeded": bucket_paid,
                "success_rate": ratio(bucket_paid, bucket_attempts),
            }
        )
    failed = [i for i in invoices if _failed_once(i)]
    recovered = sum(1 for i in failed if i.status == "paid")
    in_dunning = sum(1 for i in failed if i.status == "open" and i.next_payment_attempt)
    failed_count = len(failed)
    cases = dunning_cases.created_between(session, window.start, window.end)
    if cases:  # paywire's own records: every failed invoice, also one the customer paid after attempt 1
        failed_count = len(cases)
        recovered = sum(1 for c in cases if c.outcome == "recovered")
        in_dunning = sum(1 for c in cases if c.outcome == "open")
    over = failed_count - in_dunning
    owners = _owners(session, {i.subscription_id for i in failed if i.subscription_id})
    listed = sorted(failed, key=lambda i: (i.stripe_created, i.id), reverse=True)[:recent]
    return {
        "attempts": attempts,
        "succeeded": succeeded,
        "success_rate": ratio(succeeded, attempts),
        "series": series,
        "dunning": {
            "failed_invoices": failed_count,
            "recovered": recovered,
            "lost": over - recovered,
            "in_dunning": in_dunning,
            "recovery_rate": ratio(recovered, over),
        },
        "recent_failed": [
            FailedPayment(
                i.id,
                owners.get(i.subscription_id or ""),
                i.subscription_id,
                i.amount_due,
                i.currency,
                i.status,
                i.attempt_count,
                i.next_payment_attempt,
                i.stripe_created,
                i.hosted_invoice_url,
            ).as_dict()
            for i in listed
        ],
    }


def _order_time(order: Order) -> int:
    if order.access_starts_at is not None:
        return int(order.access_starts_at)
    return int(order.created_at.timestamp())


def _owners(session: Session, subscription_ids: set[str]) -> dict[str, str | None]:
    if not subscription_ids:
        return {}
    rows = session.execute(select(Subscription.id, Subscription.user_id).where(Subscription.id.in_(subscription_ids)))
    return {row[0]: row[1] for row in rows}


def cancellations(session: Session, window: Window, *, recent: int = 10) -> list[dict[str, Any]]:
    """Subscriptions whose access ended in the window, newest first, with what Stripe collected
    about why (`cancellation_details`: reason, feedback, comment)."""
    rows = session.scalars(
        select(Subscription)
        .where(Subscription.ended_at.is_not(None), Subscription.ended_at >= window.start)
        .where(Subscription.ended_at < window.end)
        .order_by(Subscription.ended_at.desc(), Subscription.id)
        .limit(recent)
    ).all()
    found = []
    for row in rows:
        details = (row.stripe_object or {}).get("cancellation_details") or {}
        found.append(
            {
                "subscription_id": row.id,
                "user_id": row.user_id,
                "plan": row.plan,
                "ended_at": row.ended_at,
                "reason": details.get("reason"),
                "feedback": details.get("feedback"),
                "comment": details.get("comment"),
            }
        )
    return found
