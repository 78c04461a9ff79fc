"""`GET /api/billing/payments`: the caller's payments, newest first (`paywire.billing.payments`).

    {"data": [{"id": "in_…" | "cs_…", "kind": "subscription" | "purchase" | "invoice",
               "date": 1771113600, "description": "Pro subscription", "amount": 1000,
               "currency": "usd", "status": "paid", "invoice_url": "https://…",
               "receipt_url": "https://…" | null}, …]}

Read from the mirror only: what the verified webhooks brought, never what a redirect said.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from paywire.billing.payments import payments_of
from paywire.web.api import BillingRoute
from paywire.web.auth import CurrentUser
from paywire.web.context import Context


def build_payments_router() -> APIRouter:
    router = APIRouter(prefix="/api/billing", tags=["billing"], route_class=BillingRoute)

    @router.get("/payments")
    def payments(user: CurrentUser, context: Context) -> dict[str, Any]:
        with context.sessions() as session:
            found = payments_of(session, context.catalog, user.user_id)
        return {"data": [payment.as_dict() for payment in found]}

    return router
