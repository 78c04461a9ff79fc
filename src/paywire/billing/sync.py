"""Bringing the mirror up to date right after paywire changed something in Stripe.

Each operation re-reads what it changed, so `GET /api/billing` is right as soon as the
operation answers; the webhooks that follow re-read again and, by the version rule (the
read that starts later wins), can only confirm or advance that state, never regress it.
The writes are the mirror's own (`paywire.mirror`), the same as the worker's.
"""

from __future__ import annotations

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from paywire.catalog import Catalog
from paywire.config import Settings
from paywire.mirror import LiveReads, MirrorContext
from paywire.mirror import invoices as mirrored_invoices
from paywire.mirror import schedules as mirrored_schedules
from paywire.mirror import subscriptions as mirrored_subscriptions
from paywire.stripe import StripeGateway


def mirror_context(session: Session, gateway: StripeGateway, catalog: Catalog, settings: Settings) -> MirrorContext:
    return MirrorContext(session, LiveReads(gateway), catalog, settings)


def refresh_subscription(
    session: Session, gateway: StripeGateway, catalog: Catalog, settings: Settings, subscription_id: str
) -> None:
    """Re-read the subscription and write it (subject to the version rule), then commit."""
    mirrored_subscriptions.refresh(mirror_context(session, gateway, catalog, settings), subscription_id)
    session.commit()


def refresh_schedule(
    session: Session, gateway: StripeGateway, catalog: Catalog, settings: Settings, schedule_id: str
) -> None:
    """Re-read a subscription schedule and write it, then commit."""
    mirrored_schedules.refresh(mirror_context(session, gateway, catalog, settings), schedule_id)
    session.commit()


def refresh_invoice(
    session: Session, gateway: StripeGateway, catalog: Catalog, settings: Settings, invoice_id: str
) -> None:
    """Mirror an invoice an operation created (its hosted URL is what the user pays on).
    Best effort: if the worker is writing it at this very moment (SQLite's lock), its row is
    as good, and the invoice's own events follow."""
    try:
        mirrored_invoices.refresh(mirror_context(session, gateway, catalog, settings), invoice_id)
        session.commit()
    except OperationalError:
        session.rollback()
