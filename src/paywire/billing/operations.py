"""What every subscription operation works with, and the step each one ends with.

`BillingContext` is passed in explicitly (no globals): the web edge builds it per request,
product code builds it from its own session. After its Stripe writes an operation calls
`refresh_after`, so the mirror (and `GET /api/billing`) shows the result at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paywire.billing import sync
from paywire.billing.current import CurrentSubscription
from paywire.billing.prices import PriceBook
from paywire.catalog import Catalog
from paywire.config import Settings
from paywire.db.repositories import operations
from paywire.stripe import StripeError, StripeGateway

log = logging.getLogger("paywire.billing")


@dataclass(frozen=True)
class BillingContext:
    session: Session
    gateway: StripeGateway
    catalog: Catalog
    prices: PriceBook
    settings: Settings


def refresh_after(
    ctx: BillingContext,
    cur: CurrentSubscription,
    operation: str,
    *,
    schedule_id: str | None = None,
    invoice_id: str | None = None,
) -> None:
    """Record the operation in the ledger, then re-read what it changed into the mirror.
    The change itself is done in Stripe: if a re-read fails, the webhooks that follow repair
    the mirror, so it is logged rather than reported as a failed operation."""
    # End the transaction the operation read in: on SQLite (WAL) a write cannot start from
    # an older snapshot once the worker has committed since.
    ctx.session.commit()
    record(ctx, cur, operation)
    try:
        if schedule_id:
            sync.refresh_schedule(ctx.session, ctx.gateway, ctx.catalog, ctx.settings, schedule_id)
        if invoice_id:
            sync.refresh_invoice(ctx.session, ctx.gateway, ctx.catalog, ctx.settings, invoice_id)
        sync.refresh_subscription(ctx.session, ctx.gateway, ctx.catalog, ctx.settings, cur.id)
    except StripeError as exc:
        ctx.session.rollback()
        log.warning("mirror refresh of %s after %s failed (webhooks will repair it): %r", cur.id, operation, exc)


def record(ctx: BillingContext, cur: CurrentSubscription, operation: str) -> None:
    """One ledger row per write to Stripe. Two racing copies of one request both try the
    same number; the second is the same operation (Stripe replayed it) and is not recorded."""
    try:
        seq = operations.last_seq(ctx.session, cur.id) + 1
        operations.add(ctx.session, subscription_id=cur.id, seq=seq, operation=operation, user_id=cur.user_id)
        ctx.session.commit()
    except IntegrityError:
        ctx.session.rollback()
