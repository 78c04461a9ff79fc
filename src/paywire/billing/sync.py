"""Bringing the mirror up to date right after paywire changed something in Stripe.

Each operation re-reads what it changed, through the gateway, so `GET /api/billing` is right
as soon as the operation answers; the webhooks that follow re-read again and, by the version
rule (the read that starts later wins), can only confirm or advance that state, never
regress it. The subscription is written by the events pipeline's own function, so the
worker and the operations write identical rows.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from paywire.catalog import Catalog
from paywire.config import Settings
from paywire.db.repositories import invoices, schedules
from paywire.events import mirror
from paywire.stripe import StripeGateway, StripeNotFound

SCHEDULE_EXPAND = ("phases.items.price",)


def refresh_subscription(
    session: Session, gateway: StripeGateway, catalog: Catalog, settings: Settings, subscription_id: str
) -> None:
    """Re-read the subscription and write it (subject to the version rule), then commit."""
    mirror.refresh_subscription(mirror.HandlerContext(session, gateway, catalog, settings), subscription_id)
    session.commit()


def refresh_schedule(
    session: Session, gateway: StripeGateway, schedule_id: str, *, stripe_version: int | None = None
) -> str:
    """Re-read a subscription schedule (prices expanded, for the plan of each phase) and write
    it, unless a newer read is stored. The caller commits. For the events pipeline too:
    `subscription_schedule.*` events can call this."""
    version = stripe_version if stripe_version is not None else mirror.read_version()
    try:
        fresh = gateway.retrieve_schedule(schedule_id, expand=SCHEDULE_EXPAND)
    except StripeNotFound:
        return f"{schedule_id} not in Stripe"
    saved = schedules.save_from_stripe(session, fresh, stripe_version=version)
    return f"{schedule_id} {fresh.get('status')}" + ("" if saved is not None else " kept: a newer read is stored")


def refresh_invoice(session: Session, gateway: StripeGateway, invoice_id: str) -> None:
    """Mirror an invoice an operation created (its hosted URL is what the user pays on), if
    the events pipeline has not yet: once it has, its row follows the invoice's own events,
    which this read must not overwrite with a possibly older snapshot. Best effort: if the
    worker is writing it at this very moment, its row is the one to keep."""
    fresh = gateway.retrieve_invoice(invoice_id)
    session.commit()
    try:
        if invoices.find(session, invoice_id) is None:
            invoices.save_from_stripe(session, fresh)
        session.commit()
    except (IntegrityError, OperationalError):
        session.rollback()
