"""The billing API: `POST /api/checkout`, `POST /api/billing-portal`, `GET /api/billing`."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.concurrency import run_in_threadpool

from paywire.billing.checkout import CheckoutStarted, choose, start_checkout
from paywire.billing.entitlements import Entitlement, entitlement_for
from paywire.billing.errors import BillingError
from paywire.billing.portal import open_portal
from paywire.stripe import StripeError
from paywire.web.auth import CurrentUser, Principal
from paywire.web.context import Context, PaywireContext
from paywire.web.errors import SECURITY_HEADERS, ApiError, edge_error

log = logging.getLogger("paywire.web")

MAX_BODY_BYTES = 16 * 1024
# Whatever a client might send to set its own price: always refused, by name.
PRICE_FIELDS = {
    "price",
    "price_id",
    "prices",
    "amount",
    "unit_amount",
    "currency",
    "line_items",
    "total",
}


class BillingRoute(APIRoute):
    """A paywire route: its answers carry `SECURITY_HEADERS` (errors get them from the error
    handlers), wherever the router is mounted."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_with_headers(request: Request) -> Response:
            response = await handle(request)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return handle_with_headers


class CheckoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    plan: str | None = None
    interval: str | None = None
    quantity: int | None = None
    product: str | None = None


async def read_json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object. Nothing over `MAX_BODY_BYTES` is ever buffered: refused
    from its Content-Length, or as soon as the stream passes the limit."""
    declared = request.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, "The request body is too large.")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, "The request body is too large.")
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        # RecursionError: a few kilobytes of nested brackets.
        raise ApiError(400, "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "The body must be a JSON object.")
    return data


def parse_checkout(data: dict[str, Any]) -> CheckoutRequest:
    for key in data:
        if key in PRICE_FIELDS:
            raise ApiError(
                400,
                "Prices and amounts come from the catalog: name a plan (with interval and quantity) or a product.",
                field=key,
            )
    try:
        return CheckoutRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or None
        message = "Unknown field." if first["type"] == "extra_forbidden" else first["msg"]
        raise ApiError(400, message, field=field) from None


def api_rate_limit(request: Request, user: CurrentUser, context: Context) -> None:
    """FastAPI dependency: `PAYWIRE_API_RATE_LIMIT` per user and route, or 429."""
    route = request.scope.get("route")
    retry_after = context.api_limiter.retry_after(user.user_id, getattr(route, "path", request.url.path))
    if retry_after is not None:
        raise ApiError(429, "Too many requests; try again shortly.", headers={"Retry-After": str(retry_after)})


def load_entitlement(context: PaywireContext, user: Principal) -> Entitlement:
    with context.sessions() as session:
        return entitlement_for(
            session,
            user.user_id,
            catalog=context.catalog,
            grace_seconds=context.settings.grace_seconds,
            gateway=context.gateway,
        )


def start_catalog_checkout(
    context: PaywireContext,
    *,
    user_id: str,
    email: str | None,
    plan: str | None,
    interval: str | None,
    quantity: int | None,
    product: str | None,
) -> CheckoutStarted:
    """A Checkout Session for a catalog choice of the user's (blocking: Stripe and the
    database); `POST /api/checkout` and the pricing page's Subscribe both start one here."""
    choice = choose(context.catalog, plan=plan, interval=interval, quantity=quantity, product=product)
    with context.sessions() as session:
        return start_checkout(
            session,
            context.gateway,
            context.prices,
            context.settings,
            user_id=user_id,
            email=email,
            choice=choice,
        )


def build_api_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["billing"], route_class=BillingRoute)

    @router.post("/checkout")
    async def checkout(request: Request, user: CurrentUser, context: Context) -> dict[str, str]:
        retry_after = context.checkout_limiter.retry_after(user.user_id)
        if retry_after is not None:
            raise ApiError(
                429,
                "Too many checkout attempts; try again shortly.",
                headers={"Retry-After": str(retry_after)},
            )
        wanted = parse_checkout(await read_json_object(request))

        def run() -> dict[str, str]:
            started = start_catalog_checkout(
                context,
                user_id=user.user_id,
                email=user.email,
                plan=wanted.plan,
                interval=wanted.interval,
                quantity=wanted.quantity,
                product=wanted.product,
            )
            return {"url": started.url, "id": started.session_id}

        try:
            return await run_in_threadpool(run)
        except (BillingError, StripeError) as exc:
            log.warning("checkout for %s failed: %r", user.user_id, exc)
            raise edge_error(exc) from None

    @router.post("/billing-portal", dependencies=[Depends(api_rate_limit)])
    def billing_portal(user: CurrentUser, context: Context) -> dict[str, str]:
        try:
            with context.sessions() as session:
                url = open_portal(session, context.gateway, context.settings, user_id=user.user_id)
        except (BillingError, StripeError) as exc:
            log.warning("portal for %s failed: %r", user.user_id, exc)
            raise edge_error(exc) from None
        return {"url": url}

    @router.get("/billing")
    def billing(user: CurrentUser, context: Context) -> dict[str, Any]:
        return load_entitlement(context, user).as_dict()

    return router
