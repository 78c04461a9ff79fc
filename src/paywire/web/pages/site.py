"""All the pages' routes, as one router."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from paywire.config import Settings
from paywire.web.pages import account, admin, admin_disputes, assets, marketplace, pricing, seller, sign_in
from paywire.web.pages.checkout_return import build_checkout_return_router
from paywire.web.pages.render import render


def build_pages_router(settings: Settings | None = None) -> APIRouter:
    """`settings` places the checkout return and cancel pages at PAYWIRE_CHECKOUT_SUCCESS_PATH /
    PAYWIRE_CHECKOUT_CANCEL_PATH (their defaults without)."""
    combined = APIRouter(include_in_schema=False)
    combined.include_router(assets.router)
    combined.include_router(sign_in.router)
    combined.include_router(pricing.router)
    combined.include_router(build_checkout_return_router(settings))
    combined.include_router(account.router)
    combined.include_router(admin.router)
    combined.include_router(admin_disputes.router)
    combined.include_router(seller.router)
    combined.include_router(marketplace.router)
    return combined


PAGE_ERRORS = {
    404: ("Page not found", "There is no page at this address."),
    405: ("Not allowed", "This page cannot be used that way."),
}


def error_page(request: Request, exc: StarletteHTTPException) -> Response:
    """An address the site has no page for, shown in the site's layout."""
    title, message = PAGE_ERRORS.get(exc.status_code, ("Something went wrong", "Try again from the pricing page."))
    return render(request, "error.html", status=exc.status_code, title=title, message=message)
