"""`GET /billing/update-payment?t=…`: the "update your card" link of the notices.

The token names one user and expires (`paywire.billing.payment_links`); a valid one opens a
fresh portal session for that user's customer in the portal's `payment_method_update` flow
(a 303 to Stripe), which comes back to the account page once the card is saved. Stripe then
charges the open invoice with it, and the worker tells the user "payment recovered". A bad or
expired link gets a short page saying what to do instead; nothing else is revealed.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from paywire.billing.errors import BillingUnavailable, NoBillingAccount
from paywire.billing.payment_links import PATH, PaymentLinkInvalid, user_of_link
from paywire.billing.portal import open_portal
from paywire.context import PaywireContext
from paywire.web.context import Context

HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token must not leak to the portal in a Referer
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
}


def build_update_payment_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get(PATH, response_model=None)
    async def update_payment(context: Context, t: str = "") -> Response:
        try:
            user_id = user_of_link(context.settings, t)
        except PaymentLinkInvalid as exc:
            return _page(context, "This link cannot be used", exc.message, 410 if "expired" in exc.message else 400)
        if context.api_limiter.retry_after(user_id, PATH) is not None:
            return _page(context, "Please wait a moment", "Too many tries; open the link again in a minute.", 429)
        try:
            url = await run_in_threadpool(_portal, context, user_id)
        except NoBillingAccount:
            return _page(context, "Nothing to update", "There is no billing account for this link.", 404)
        except BillingUnavailable:
            return _page(context, "Please try again", "Billing is temporarily unavailable; try the link again.", 503)
        return RedirectResponse(url, status_code=303, headers=HEADERS)

    return router


def _portal(context: PaywireContext, user_id: str) -> str:
    with context.sessions() as session:
        return open_portal(session, context.gateway, context.settings, user_id=user_id, card_update=True)


def _page(context: PaywireContext, title: str, message: str, status: int) -> HTMLResponse:
    account = context.settings.app_link(context.settings.portal_return_path)
    body = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title></head>'
        f'<body style="font-family: sans-serif; max-width: 36rem; margin: 3rem auto; padding: 0 1rem">'
        f"<h1>{escape(title)}</h1><p>{escape(message)}</p>"
        f'<p><a href="{escape(account)}">Go to your account</a> to manage your card.</p></body></html>'
    )
    return HTMLResponse(body, status_code=status, headers=HEADERS)
