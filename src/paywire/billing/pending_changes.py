"""What is waiting to happen to a subscription: a change scheduled for the period end (a
downgrade, in a subscription schedule's next phase) and an upgrade waiting for its payment
(Stripe's `pending_update`).

Pure. One rule (`pending_phase`) reads the schedule, whether it comes from the mirror (for
`GET /api/billing`) or fresh from Stripe (before an operation). A schedule may lag the
subscription (the schedule's events are not all mirrored at once), so a phase counts as
pending only while it starts at or after the subscription's current period end: once the
subscription has moved into the phase's period, the change has happened, whatever the
schedule still says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paywire.catalog import Catalog
from paywire.db.models import Invoice, Subscription, SubscriptionSchedule
from paywire.stripe.ids import id_of

LIVE_SCHEDULE_STATUSES = ("active", "not_started")


@dataclass(frozen=True)
class PendingChange:
    plan: str | None
    interval: str | None
    quantity: int
    effective_date: int
    schedule_id: str | None = None

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


Items = list[tuple[str | None, int]]


def phase_items(phase: dict[str, Any]) -> Items:
    return sorted((id_of(i.get("price")), int(i.get("quantity") or 1)) for i in phase.get("items") or [])


def stripe_items(subscription: dict[str, Any]) -> Items:
    """A Stripe subscription's (price, quantity) pairs."""
    items = (subscription.get("items") or {}).get("data") or []
    return sorted((id_of(i.get("price")), int(i.get("quantity") or 1)) for i in items)


def pending_phase(
    catalog: Catalog,
    schedule: dict[str, Any] | None,
    items_now: Items,
    period_end: int | None,
    *,
    schedule_id: str | None = None,
) -> PendingChange | None:
    """The first phase of a live schedule that starts at or after `period_end` and whose
    items differ from `items_now`: the change waiting there, if any."""
    if schedule is None or schedule.get("status") not in LIVE_SCHEDULE_STATUSES or period_end is None:
        return None
    for phase in schedule.get("phases") or []:
        start = phase.get("start_date")
        if start is None or start < period_end or phase_items(phase) == items_now:
            continue
        items = phase.get("items") or []
        plan, interval = catalog.plan_of(i.get("price") for i in items)
        quantity = sum(int(i.get("quantity") or 1) for i in items) or 1
        return PendingChange(plan, interval, quantity, int(start), schedule_id or schedule.get("id"))
    return None


def pending_change_of(
    catalog: Catalog, subscription: Subscription, schedule: SubscriptionSchedule | None
) -> PendingChange | None:
    """The change waiting in a mirrored subscription's mirrored schedule, if any."""
    if (
        schedule is None
        or subscription.schedule_id != schedule.id
        or subscription.status in ("canceled", "incomplete_expired")
    ):
        return None
    items_now: Items = sorted((item.price_id, int(item.quantity or 1)) for item in subscription.items)
    as_stripe = {"status": schedule.status, "phases": schedule.phases}
    return pending_phase(catalog, as_stripe, items_now, subscription.current_period_end, schedule_id=schedule.id)


def pending_payment_of(subscription: Subscription, invoice: Invoice | None, now: int) -> PendingPayment | None:
    pending = (subscription.stripe_object or {}).get("pending_update")
    if not isinstance(pending, dict):
        return None
    expires_at = pending.get("expires_at")
    if isinstance(expires_at, int) and expires_at <= now:
        return None
    url = invoice.hosted_invoice_url if invoice is not None else None
    return PendingPayment(subscription.latest_invoice_id, url, expires_at if isinstance(expires_at, int) else None)
