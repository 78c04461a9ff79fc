"""Invoices in the mirror, written whole under the version rule, so a slow read finishing
after a newer one cannot move an invoice back (paid → open), whoever wrote the newer one.

Invoice facts are hinted by events (a failed attempt, an authentication asked for, a payment),
so they are the business of the event's own module (`paywire.events.handlers`), which gets the
state kept here; the one a state shows is the end of an invoice's dunning (`dunning.follow`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from paywire.db.models import Invoice
from paywire.db.repositories import entitlement_versions, invoices
from paywire.mirror import dunning
from paywire.mirror import refresh as mirrored
from paywire.mirror.context import MirrorContext
from paywire.mirror.payloads import BY_VERSION, UNKNOWN, ByVersion, Mark, Offer, Times
from paywire.mirror.rows import invoice_row, invoice_subscription
from paywire.mirror.write import state_marks, write_seen, write_versioned
from paywire.stripe import Kind
from paywire.stripe.ids import id_of


@dataclass(frozen=True)
class KeptInvoice:
    state: dict[str, Any]
    written: bool
    note: str


def refresh(ctx: MirrorContext, invoice_id: str, offer: Offer | None = None) -> KeptInvoice | None:
    """Bring the mirrored invoice up to what the events being handled announce (as
    `subscriptions.refresh`). None if Stripe no longer has it (a deleted draft: nothing was
    ever owed on it)."""
    return mirrored.refresh(ctx, Kind.INVOICE, invoice_id, offer, held=_held, save=_save)


def save(ctx: MirrorContext, fresh: dict[str, Any], version: int, times: Times | None = None) -> KeptInvoice:
    """Write an invoice read at `version`; what stands after. `times`: as `subscriptions.save`."""
    return mirrored.save_read(ctx, Kind.INVOICE, _save, fresh, version, times)


def _held(ctx: MirrorContext, invoice_id: str, why: str) -> KeptInvoice | None:
    row = invoices.find(ctx.session, invoice_id)
    return None if row is None else KeptInvoice(row.stripe_object, False, f"{invoice_id} {row.status}: {why}")


def _save(
    ctx: MirrorContext,
    fresh: dict[str, Any],
    version: int,
    times: Times,
    *,
    event_id: str | None = None,
    seen: Mark | ByVersion | None = BY_VERSION,
) -> KeptInvoice | None:
    if write(ctx.session, fresh, version=version, times=times, event_id=event_id, seen=seen):
        dunning.follow(ctx, fresh)
        source = f" from {event_id}'s payload" if event_id else ""
        return KeptInvoice(fresh, True, f"{fresh['id']} {fresh.get('status')}{source}")
    if not isinstance(seen, ByVersion):
        return None
    row = invoices.find(ctx.session, fresh["id"])
    if row is None:  # pragma: no cover - a newer row was there a moment ago, in this transaction
        raise LookupError(f"invoice {fresh['id']} vanished while being written")
    return KeptInvoice(row.stripe_object, False, f"{fresh['id']} kept: a newer read is stored")


def write(
    session: Session,
    fresh: dict[str, Any],
    *,
    version: int,
    times: Times = UNKNOWN,
    event_id: str | None = None,
    seen: Mark | ByVersion | None = BY_VERSION,
) -> bool:
    """The row, under the version rule (or, with `seen`, over the row seen); True if written."""
    values = row_values(fresh, version=version, times=times, event_id=event_id)
    # A payment waiting on it shows in the user's entitlement: their version moves at commit.
    entitlement_versions.bump(session, customer=values["stripe_customer_id"], subscription=values["subscription_id"])
    if isinstance(seen, ByVersion):
        return write_versioned(session, Invoice, values)
    return write_seen(session, Invoice, values, seen)


def row_values(
    fresh: dict[str, Any], *, version: int, times: Times = UNKNOWN, event_id: str | None = None
) -> dict[str, Any]:
    """The row a write of `fresh` stores (`rows.invoice_row` and what the mirror adds)."""
    values = invoice_row(fresh)
    values.update(state_marks(version=version, times=times, event_id=event_id))
    return values


def invoice_payload(invoice: dict[str, Any]) -> dict[str, Any]:
    """What every fact about an invoice carries."""
    return {
        "invoice_id": invoice["id"],
        "subscription_id": invoice_subscription(invoice),
        "stripe_customer_id": id_of(invoice.get("customer")),
        "amount_due": invoice.get("amount_due"),
        "amount_remaining": invoice.get("amount_remaining"),
        "currency": invoice.get("currency"),
        "hosted_invoice_url": invoice.get("hosted_invoice_url"),
        "attempt_count": int(invoice.get("attempt_count") or 0),
        "billing_reason": invoice.get("billing_reason"),
        "next_payment_attempt": invoice.get("next_payment_attempt"),
    }
