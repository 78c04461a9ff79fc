"""The seller's pages (Stripe Connect), for the signed-in user.

    GET  /seller                        become a seller, or: the state in words and what to fix,
                                        balance, sales and the platform's fees, payouts, disputes
    POST /seller/onboarding             303 to Stripe-hosted onboarding (or to update the account)
    GET  /seller/onboarding/refresh     Stripe's `refresh_url`: the link expired or was used; a
                                        fresh one (303)
    GET  /seller/onboarding/return      Stripe's `return_url`: the account read again, back to /seller
    POST /seller/dashboard              303 to the seller's Express Dashboard (payouts, bank account)

The same operations as `/api/seller…` (`paywire.billing.sellers`). Coming back from Stripe
proves nothing by itself: the page shows the account as Stripe holds it (read again on return),
and the events that follow keep it so.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from paywire.billing import sellers
from paywire.billing.errors import BillingError
from paywire.billing.seller_status import NOT_A_SELLER, status_of
from paywire.context import PaywireContext
from paywire.db.repositories import sellers as seller_rows
from paywire.stripe import StripeError
from paywire.web.context import Context
from paywire.web.pages.csrf import checked_form
from paywire.web.pages.render import redirect, redirect_with_flash, render
from paywire.web.pages.routing import page_router
from paywire.web.pages.session import PageUser, SignedInPageUser

log = logging.getLogger("paywire.web")

router = page_router()
UNAVAILABLE = "Stripe is not answering right now; please try again."
PAYOUT_WORDS = {"pending": "on its way", "in_transit": "on its way", "paid": "paid", "failed": "failed"}


def seller_page_values(context: PaywireContext, user: PageUser) -> dict[str, Any]:
    values: dict[str, Any] = {
        "currency": context.catalog.currency,
        "product_names": {key: p.name for key, p in context.catalog.marketplace_products.items()},
        "payout_words": PAYOUT_WORDS,
    }
    with context.sessions() as session:
        seller = seller_rows.find_by_user(session, user.user_id)
        if seller is None:
            return {**values, "report": None, "seller_status": NOT_A_SELLER}
        report = sellers.seller_report(session, seller, context.settings)
        status = status_of(seller, needs_card_payments=context.settings.connect_on_behalf_of)
        return {**values, "report": report, "seller_status": status}


@router.get(sellers.SELLER_PAGE)
async def seller_page(request: Request, user: SignedInPageUser, context: Context) -> HTMLResponse:
    values = await run_in_threadpool(seller_page_values, context, user)
    return render(request, "seller.html", title="Selling", active="seller", **values)


def _onboarding_url(context: PaywireContext, user: PageUser) -> str:
    with context.sessions() as session:
        return sellers.onboarding_url(
            session, context.gateway, context.settings, user_id=user.user_id, email=user.email
        )


async def _to_onboarding(request: Request, context: Context, user: PageUser) -> Response:
    try:
        url = await run_in_threadpool(_onboarding_url, context, user)
    except (BillingError, StripeError) as exc:
        log.warning("seller onboarding link for %s failed: %r", user.user_id, exc)
        return redirect_with_flash(request, sellers.SELLER_PAGE, UNAVAILABLE, kind="error", status=503)
    return redirect(url)


@router.post(sellers.SELLER_PAGE + "/onboarding")
async def onboarding(request: Request, user: SignedInPageUser, context: Context) -> Response:
    await checked_form(request)
    return await _to_onboarding(request, context, user)


@router.get(sellers.SELLER_REFRESH_PATH)
async def onboarding_refresh(request: Request, user: SignedInPageUser, context: Context) -> Response:
    """Stripe sends the browser here when its link expired or was already used: a fresh link
    for the signed-in user's own account (a leaked URL gets nobody else's)."""
    return await _to_onboarding(request, context, user)


def _refresh(context: PaywireContext, user: PageUser) -> str:
    with context.sessions() as session:
        seller = sellers.seller_of(session, user.user_id)
        seller = sellers.refresh_seller(session, context.gateway, seller)
        return status_of(seller, needs_card_payments=context.settings.connect_on_behalf_of).headline


@router.get(sellers.SELLER_RETURN_PATH)
async def onboarding_return(request: Request, user: SignedInPageUser, context: Context) -> Response:
    try:
        headline = await run_in_threadpool(_refresh, context, user)
    except (BillingError, StripeError) as exc:
        log.warning("seller return for %s: %r", user.user_id, exc)
        return redirect_with_flash(request, sellers.SELLER_PAGE, "Back from Stripe. " + UNAVAILABLE, kind="error")
    return redirect_with_flash(request, sellers.SELLER_PAGE, f"Back from Stripe: {headline}.", kind="success")


def _dashboard_url(context: PaywireContext, user: PageUser) -> str:
    with context.sessions() as session:
        return sellers.dashboard_url(session, context.gateway, user_id=user.user_id)


@router.post(sellers.SELLER_PAGE + "/dashboard")
async def dashboard(request: Request, user: SignedInPageUser, context: Context) -> Response:
    await checked_form(request)
    try:
        url = await run_in_threadpool(_dashboard_url, context, user)
    except (BillingError, StripeError) as exc:
        log.warning("seller dashboard link for %s failed: %r", user.user_id, exc)
        return redirect_with_flash(request, sellers.SELLER_PAGE, UNAVAILABLE, kind="error", status=503)
    return redirect(url)
