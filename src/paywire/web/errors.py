"""Errors at the HTTP edge: every billing outcome maps to one status, here and only here.

Every JSON error paywire answers has one shape, `{"error": {"message", "code", "field", …}}`:
`code` is stable for programs (`not_found`, `rate_limited`, `already_subscribed`, …),
`message` is for people, `field` names the input at fault (or is null). FastAPI's own
answers (an unknown route, a wrong method, a malformed body) are rewritten into it too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from paywire.billing.errors import (
    AccessDenied,
    AdminOnly,
    AlreadySubscribed,
    BillingError,
    BillingUnavailable,
    InvalidChoice,
    NoBillingAccount,
    NoSubscription,
    NotASeller,
    PaymentNotFound,
    PriceUnavailable,
    PromotionCodeRejected,
    Refused,
    SellerUnavailable,
    SubscriptionConflict,
    TooManyCheckouts,
)
from paywire.stripe import CardDeclined, StripeError, StripeMisconfigured, StripeUnavailable

RETRY_AFTER_UNAVAILABLE = "5"
# On every answer of paywire's routes, errors included: billing state, checkout and portal links
# are the caller's own and short-lived (no shared or browser cache keeps them), and a body that
# echoes input is never sniffed into HTML.
SECURITY_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
# The code of an error that names none of its own, by status.
CODES = {
    400: "invalid_request",
    401: "unauthenticated",
    402: "payment_required",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    429: "rate_limited",
    500: "internal_error",
    502: "stripe_refused",
    503: "unavailable",
}


def error_body(status_code: int, message: str, *, code: str | None = None, field: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "code": code or CODES.get(status_code, "error"), "field": field}}


INTERNAL_ERROR = error_body(500, "Something went wrong on our side; try again.")


class ApiError(HTTPException):
    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        self.payload: dict[str, Any] = error_body(status_code, message, code=code, field=field)
        self.payload["error"].update(extra)
        super().__init__(status_code=status_code, detail=self.payload, headers=headers)


def api_error(exc: BillingError) -> ApiError:
    """The HTTP face of a billing outcome."""
    if isinstance(exc, PromotionCodeRejected):
        return ApiError(400, exc.message, field=exc.field, code="promotion_code_rejected", reason=exc.reason)
    if isinstance(exc, NoSubscription):
        return ApiError(404, exc.message, field=exc.field, code="no_subscription")
    if isinstance(exc, SubscriptionConflict):
        conflict = ApiError(409, exc.message, field=exc.field, code=exc.code)
        conflict.payload["error"].update(exc.details)
        return conflict
    if isinstance(exc, Refused):
        return ApiError(exc.status, exc.message, field=exc.field, code=exc.code)
    if isinstance(exc, PaymentNotFound):
        return ApiError(404, exc.message, field=exc.field, code="payment_not_found")
    if isinstance(exc, AdminOnly):
        return ApiError(403, exc.message, code="admin_only")
    if isinstance(exc, SellerUnavailable):
        return ApiError(409, exc.message, field=exc.field, code=exc.code)
    if isinstance(exc, NotASeller):
        return ApiError(404, exc.message, code="not_a_seller", onboarding="/api/seller/onboarding")
    if isinstance(exc, InvalidChoice):
        return ApiError(400, exc.message, field=exc.field)
    if isinstance(exc, AlreadySubscribed):
        return ApiError(409, exc.message, code="already_subscribed", portal="/api/billing-portal")
    if isinstance(exc, NoBillingAccount):
        return ApiError(404, exc.message, code="no_billing_account")
    if isinstance(exc, AccessDenied):
        return ApiError(403, exc.message, reason=exc.reason)
    if isinstance(exc, TooManyCheckouts):
        return ApiError(429, exc.message, headers={"Retry-After": str(exc.retry_after)})
    if isinstance(exc, PriceUnavailable | BillingUnavailable):
        return ApiError(503, exc.message, headers={"Retry-After": RETRY_AFTER_UNAVAILABLE})
    return ApiError(400, exc.message, field=exc.field)


def stripe_api_error(exc: StripeError) -> ApiError:
    """Stripe errors that reach the edge: paywire sent something Stripe would not take."""
    if isinstance(exc, CardDeclined):
        return ApiError(402, exc.message, code="card_declined")
    if isinstance(exc, StripeUnavailable):
        return ApiError(
            503, "Billing is temporarily unavailable; try again.", headers={"Retry-After": RETRY_AFTER_UNAVAILABLE}
        )
    if isinstance(exc, StripeMisconfigured):
        return ApiError(503, "Billing is misconfigured; the operator has been told.")
    return ApiError(502, "Stripe refused the request.", request_id=exc.request_id)


def edge_error(exc: BillingError | StripeError) -> ApiError:
    return api_error(exc) if isinstance(exc, BillingError) else stripe_api_error(exc)


def install_error_handlers(app: FastAPI) -> None:
    """Render paywire's errors (and FastAPI's own validation errors) as `{"error": …}`."""

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        headers = {**SECURITY_HEADERS, **(exc.headers or {})}
        return JSONResponse(exc.payload, status_code=exc.status_code, headers=headers)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        field = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        body = error_body(400, first.get("msg", "Invalid request"), field=field)
        return JSONResponse(body, status_code=400, headers=SECURITY_HEADERS)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)


def install_not_found_handler(app: FastAPI, page: Callable[[Request, StarletteHTTPException], Response] | None) -> None:
    """The service's answer to a path or method it does not serve (FastAPI's own 404 and 405):
    the JSON error shape, or, for a person's browser asking for a page, `page` (the site's
    404 page, when the pages are served). Not done by `mount`: a host app keeps its own."""

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code < 400:
            return await http_exception_handler(request, exc)  # a redirect: kept as it is
        if page is not None and exc.status_code in NOT_SERVED and wants_a_page(request):
            return page(request, exc)
        message = NOT_SERVED.get(exc.status_code, str(exc.detail))
        headers = {**SECURITY_HEADERS, **(exc.headers or {})}
        return JSONResponse(error_body(exc.status_code, message), status_code=exc.status_code, headers=headers)

    app.add_exception_handler(StarletteHTTPException, on_http_error)


NOT_SERVED = {404: "No such route.", 405: "This route does not take that method."}
JSON_PREFIXES = ("/api/", "/webhooks/", "/checkout/")


def wants_a_page(request: Request) -> bool:
    """A browser navigating to a page (not a program calling the API)."""
    if request.url.path.startswith(JSON_PREFIXES) or request.method not in ("GET", "HEAD"):
        return False
    return "text/html" in request.headers.get("accept", "")


def install_internal_error_handler(app: FastAPI) -> None:
    """The service's answer to an unexpected exception: `{"error": …}` with a fixed message,
    never the exception's text or a trace (the server still logs the traceback). Not done by
    `mount`: a host app keeps its own 500s."""

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(INTERNAL_ERROR, status_code=500, headers=SECURITY_HEADERS)

    app.add_exception_handler(Exception, on_unexpected)
