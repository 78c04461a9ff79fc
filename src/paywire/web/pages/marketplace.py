"""The marketplace page: what sellers sell, and buying it.

    GET  /marketplace              every product sold by sellers, from each seller who can sell
                                   now (never the signed-in user's own), and what they bought
    POST /marketplace/checkout     item, or item-<n> for each ticked (`product@seller`): 303 to
                                   Stripe's Checkout

One item is a destination charge to its seller; several are one payment whose sellers are paid
by transfers once it succeeded (`paywire.billing.marketplace`). The same operation as
`POST /api/checkout` with `seller` or `items`; prices and fees come from the server.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from paywire.billing.errors import BillingError, BillingUnavailable
from paywire.billing.marketplace import fee_terms
from paywire.billing.seller_status import status_of
from paywire.catalog import platform_fee
from paywire.context import PaywireContext
from paywire.db.models import ConnectTransfer
from paywire.db.repositories import sellers as seller_rows
from paywire.stripe import StripeError
from paywire.web.api import start_catalog_checkout
from paywire.web.context import Context
from paywire.web.errors import edge_error
from paywire.web.pages.csrf import checked_form
from paywire.web.pages.render import redirect, redirect_with_flash, render
from paywire.web.pages.routing import page_router
from paywire.web.pages.session import OptionalPageUser, PageUser

log = logging.getLogger("paywire.web")

MARKETPLACE = "/marketplace"
router = page_router()


@dataclass(frozen=True)
class Offer:
    product: str
    name: str
    description: str
    price: int
    seller_user_id: str
    seller_name: str
    fee: int

    @property
    def item(self) -> str:
        return f"{self.product}@{self.seller_user_id}"


def offers(context: PaywireContext, viewer: str | None) -> list[Offer]:
    """Each marketplace product from each seller who can sell now (the viewer's own left out)."""
    found = []
    with context.sessions() as session:
        for seller in seller_rows.all_sellers(session):
            if seller.user_id == viewer or not status_of(seller).can_sell:
                continue
            for product in context.catalog.marketplace_products.values():
                percent, fixed = fee_terms(seller, product.fee_percent, product.fee_fixed)
                found.append(
                    Offer(
                        product=product.key,
                        name=product.name,
                        description=product.description or "",
                        price=product.price,
                        seller_user_id=seller.user_id,
                        seller_name=seller.display_name or seller.email or seller.user_id,
                        fee=platform_fee(product.price, percent, fixed),
                    )
                )
    return found


def purchases(context: PaywireContext, buyer: str) -> list[ConnectTransfer]:
    with context.sessions() as session:
        rows = session.scalars(
            select(ConnectTransfer)
            .where(ConnectTransfer.buyer_user_id == buyer)
            .order_by(ConnectTransfer.stripe_created.desc())
            .limit(20)
        ).all()
        session.expunge_all()
        return list(rows)


def _page_values(context: PaywireContext, user: PageUser | None) -> dict[str, Any]:
    return {
        "offers": offers(context, user.user_id if user else None),
        "purchases": purchases(context, user.user_id) if user else [],
        "currency": context.catalog.currency,
        "product_names": {key: p.name for key, p in context.catalog.marketplace_products.items()},
    }


@router.get(MARKETPLACE)
async def marketplace_page(request: Request, context: Context, user: OptionalPageUser) -> HTMLResponse:
    values = await run_in_threadpool(_page_values, context, user)
    checkout = request.query_params.get("checkout")
    return render(request, "marketplace.html", title="Marketplace", active="marketplace", checkout=checkout, **values)


def _items(raw: list[str]) -> list[tuple[str, str]]:
    found = []
    for item in raw:
        product, _, seller = item.partition("@")
        if product and seller:
            found.append((product, seller))
    return found


@router.post(MARKETPLACE + "/checkout")
async def checkout(request: Request, context: Context, user: OptionalPageUser) -> Response:
    form = await checked_form(request)
    if user is None:
        return redirect_with_flash(request, "/sign-in?next=" + quote(MARKETPLACE, safe="/"), "Sign in to buy.")
    # A Buy button sends `item`; the basket's ticked boxes `item-<n>` each.
    wanted = _items([value for key, value in sorted(form.items()) if key == "item" or key.startswith("item-")])
    if not wanted:
        return redirect_with_flash(request, MARKETPLACE, "Choose something to buy.", kind="error", status=400)

    def run() -> str:
        started = start_catalog_checkout(
            context,
            user_id=user.user_id,
            email=user.email,
            plan=None,
            interval=None,
            quantity=None,
            product=None,
            items=wanted,
        )
        return started.url

    try:
        url = await run_in_threadpool(run)
    except (BillingUnavailable, StripeError) as exc:
        log.warning("marketplace checkout for %s failed: %r", user.user_id, exc)
        return redirect_with_flash(request, MARKETPLACE, "Payments are unavailable; please try again.", kind="error")
    except BillingError as exc:
        refused = edge_error(exc)
        return redirect_with_flash(request, MARKETPLACE, exc.message, kind="error", status=refused.status_code)
    return redirect(url)
