"""Errors at the HTTP edge: every billing outcome maps to one status, here and only here.

The body is always `{"error": {"message", "field", ...}}`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from paywire.billing.errors import (
    AccessDenied,
    AdminOnly,
    AlreadySubscribed,
    BillingError,
    BillingUnavailable,
    InvalidChoice,
    NoBillingAccount,
    NoSubscription,
    PriceUnavailable,
    PromotionCodeRejected,
    SubscriptionConflict,
)
from paywire.stripe import CardDeclined, StripeError, StripeMisconfigured, StripeUnavailable

RETRY_AFTER_UNAVAILABLE = "5"
# On every answer of paywire's routes, errors included: billing state, checkout and portal links
# are the caller's own and short-lived (no shared or browser cache keeps them), and a body that
# echoes input is never sniffed into HTML.
SECURITY_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
INTERNAL_ERROR = {"error": {"message": "Something went wrong on our side; try again.", "field": None}}


class ApiError(HTTPException):
    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        self.payload: dict[str, Any] = {"error": {"message": message, "field": field, **extra}}
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
    if isinstance(exc, AdminOnly):
        return ApiError(403, exc.message, code="admin_only")
    if isinstance(exc, InvalidChoice):
        return ApiError(400, exc.message, field=exc.field)
    if isinstance(exc, AlreadySubscribed):
        return ApiError(409, exc.message, code="already_subscribed", portal="/api/billing-portal")
    if isinstance(exc, NoBillingAccount):
        return ApiError(404, exc.message, code="no_billing_account")
    if isinstance(exc, AccessDenied):
        return ApiError(403, exc.message, reason=exc.reason)
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
        body = {"error": {"message": first.get("msg", "Invalid request"), "field": field}}
        return JSONResponse(body, status_code=400, headers=SECURITY_HEADERS)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)


def install_internal_error_handler(app: FastAPI) -> None:
    """The service's answer to an unexpected exception: `{"error": …}` with a fixed message,
    never the exception's text or a trace (the server still logs the traceback). Not done by
    `mount`: a host app keeps its own 500s."""

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(INTERNAL_ERROR, status_code=500, headers=SECURITY_HEADERS)

    app.add_exception_handler(Exception, on_unexpected)
