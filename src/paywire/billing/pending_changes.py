"""What is waiting to happen to a subscription, read from the mirror: a change scheduled for
the period end (a downgrade, in a subscription schedule's next phase) and an upgrade waiting
for its payment (Stripe's `pending_update`).

Pure: mirror rows in, answers out. A schedule row may lag the subscription row (the schedule's
events are not all mirrored at once), so a phase counts as pending only while it starts at or
after the subscription's current period end: once the subscription has moved into the
phase's period, the change has happened, whatever the schedule row still says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paywire.catalog import Catalog
from paywire.db.models import Invoice, Subscription, SubscriptionSchedule
from paywire.events.mirror import plan_of

LIVE_SCHEDULE_STATUSES = ("active", "not_started")


@dataclass(frozen=True)
class PendingChange:
    plan: str | None
    interval: str | None
    quantity: int
    effective_date: int
    schedule_id: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "interval": self.interval,
            "quantity": self.quantity,
            "effective_date": self.effective_date,
        }


@dataclass(frozen=True)
class PendingPayment:
    """An upgrade that takes effect only once its invoice is paid (or lapses at `expires_at`)."""

    invoice_id: str | None
    hosted_invoice_url: str | None
    expires_at: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "invoice_id": self.invoice_id,
            "hosted_invoice_url": self.hosted_invoice_url,
            "expires_at": self.expires_at,
        }


def _price_id(price: Any) -> str | None:
    if isinstance(price, dict):
        found = price.get("id")
        return found if isinstance(found, str) else None
    return price if isinstance(price, str) else None


def phase_items(phase: dict[str, Any]) -> list[tuple[str | None, int]]:
    return sorted((_price_id(i.get("price")), int(i.get("quantity") or 1)) for i in phase.get("items") or [])


def current_items(subscription: Subscription) -> list[tuple[str | None, int]]:
    return sorted((item.price_id, int(item.quantity or 1)) for item in subscription.items)


def pending_change_of(
    catalog: Catalog, subscription: Subscription, schedule: SubscriptionSchedule | None
) -> PendingChange | None:
    """The change waiting in the subscription's schedule, if any."""
    if (
        schedule is None
        or subscription.schedule_id != schedule.id
        or schedule.status not in LIVE_SCHEDULE_STATUSES
        or subscription.current_period_end is None
        or subscription.status in ("canceled", "incomplete_expired")
    ):
        return None
    now_items = current_items(subscription)
    for phase in schedule.phases:
        start = phase.get("start_date")
        if start is None or start < subscription.current_period_end:
            continue
        if phase_items(phase) == now_items:
            continue
        items = phase.get("items") or []
        prices = [i.get("price") for i in items]
        plan, interval = plan_of(catalog, {"items": {"data": [{"price": p} for p in prices if isinstance(p, dict)]}})
        quantity = sum(int(i.get("quantity") or 1) for i in items) or 1
        return PendingChange(plan, interval, quantity, int(start), schedule.id)
    return None


def pending_payment_of(subscription: Subscription, invoice: Invoice | None, now: int) -> PendingPayment | None:
    pending = (subscription.stripe_object or {}).get("pending_update")
    if not isinstance(pending, dict):
        return None
    expires_at = pending.get("expires_at")
    if isinstance(expires_at, int) and expires_at <= now:
        return None
    url = invoice.hosted_invoice_url if invoice is not None else None
    return PendingPayment(subscription.latest_invoice_id, url, expires_at if isinstance(expires_at, int) else None)
