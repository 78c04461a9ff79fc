"""The billing API: `POST /api/checkout`, `POST /api/billing-portal`, `GET /api/billing`."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.concurrency import run_in_threadpool

from paywire.billing.checkout import CheckoutStarted, SubscriptionChoice, choose, start_checkout
from paywire.billing.checkout_sessions import Terms
from paywire.billing.entitlements import Entitlement, entitlement_for
from paywire.billing.errors import BillingError, InvalidChoice, TooManyCheckouts
from paywire.billing.marketplace import destination_for, start_marketplace_checkout
from paywire.billing.portal import open_portal
from paywire.context import PaywireContext
from paywire.stripe import StripeError
from paywire.usage.allowance import usage_of
from paywire.web.access import note_access, note_use
from paywire.web.auth import CurrentUser, Principal
from paywire.web.context import Context
from paywire.web.errors import SECURITY_HEADERS, ApiError, edge_error

log = logging.getLogger("paywire.web")

Model = TypeVar("Model", bound=BaseModel)

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


class CheckoutItem(BaseModel):
    """One line of an order from several sellers: a product, and the seller's user id."""

    model_config = ConfigDict(extra="forbid", strict=True)

    product: str
    seller: str


class CheckoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    plan: str | None = None
    interval: str | None = None
    quantity: int | None = None
    product: str | None = None
    # Buying from a seller (Stripe Connect): the seller's user id, or an order's `items`.
    seller: str | None = None
    items: list[CheckoutItem] | None = None


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
    lines = data.get("items")
    for key in (
        [*data, *(k for item in lines if isinstance(item, dict) for k in item)] if isinstance(lines, list) else data
    ):
        if key in PRICE_FIELDS:
            raise ApiError(
                400,
                "Prices and amounts come from the catalog: name a plan (with interval and quantity) or a product.",
                field=key,
            )
    return validated(CheckoutRequest, data)


def validated(model: type[Model], data: dict[str, Any]) -> Model:
    """`data` as `model`, or a 400 naming the first field refused (an unknown field as such)."""
    try:
        return model.model_validate(data)
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


def load_entitlement(context: PaywireContext, user: Principal, *, fresh: bool = False) -> Entitlement:
    """The caller's entitlement, from the process's cache (`fresh`: from the mirror now). An
    operation's own change is in it: its commit dropped the cached one."""
    with context.sessions() as session:
        return entitlement_for(
            session,
            user.user_id,
            catalog=context.catalog,
            grace_seconds=context.settings.grace_seconds,
            gateway=context.gateway,
            fresh=fresh,
            settings=context.settings,
        )


def billing_usage(context: PaywireContext, user_id: str) -> list[dict[str, Any]]:
    """The `usage` of `GET /api/billing`: every meter the user's plan bills, this period,
    with Stripe's figure and any drift (blocking)."""
    with context.sessions() as session:
        account = context.usage.accounts.account(session, user_id)
        shown = []
        for usage in usage_of(session, context.catalog, account):
            row = usage.as_dict()
            reconciler = context.usage.reconciler
            checked = reconciler.check(session, account, usage) if reconciler is not None else None
            row["stripe"] = checked.as_dict() if checked is not None else None
            shown.append(row)
        return shown


def start_catalog_checkout(
    context: PaywireContext,
    *,
    user_id: str,
    email: str | None,
    plan: str | None,
    interval: str | None,
    quantity: int | None,
    product: str | None,
    seller: str | None = None,
    items: list[tuple[str, str]] | None = None,
) -> CheckoutStarted:
    """A Checkout Session for a catalog choice of the user's (blocking: Stripe and the
    database); `POST /api/checkout` and the pricing page's Subscribe both start one here. Only
    accepted checkouts count against the user's rate: a refused request (a bad plan, already
    subscribed) costs nothing of their allowance."""
    retry_after = context.checkout_limiter.blocked_for(user_id)
    if retry_after is not None:
        raise TooManyCheckouts(retry_after)
    if items or (seller is not None and product is not None):
        wanted = items or [(str(product), str(seller))]
        if plan or (items and (product or seller)):
            raise InvalidChoice("Name either items, or a product (or plan) and its seller.", field="items")
        with context.sessions() as session:
            started = start_marketplace_checkout(
                session,
                context.gateway,
                context.catalog,
                context.prices,
                context.settings,
                user_id=user_id,
                email=email,
                wanted=wanted,
            )
        context.checkout_limiter.count(user_id)
        return started
    from_seller = seller is not None
    choice = choose(
        context.catalog, plan=plan, interval=interval, quantity=quantity, product=product, from_seller=from_seller
    )
    with context.sessions() as session:
        destination = None
        if from_seller and isinstance(choice, SubscriptionChoice):
            destination = destination_for(
                session, context.settings, choice.plan, seller_user_id=str(seller), buyer_user_id=user_id
            )
        started = start_checkout(
            session,
            context.gateway,
            context.prices,
            context.settings,
            user_id=user_id,
            email=email,
            choice=choice,
            destination=destination,
            terms=Terms.of(context.catalog),
        )
    context.checkout_limiter.count(user_id)
    return started


def build_api_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["billing"], route_class=BillingRoute)

    @router.post("/checkout")
    async def checkout(request: Request, user: CurrentUser, context: Context) -> dict[str, str]:
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
                seller=wanted.seller,
                items=[(item.product, item.seller) for item in wanted.items] if wanted.items is not None else None,
            )
            note_access(context, request, user.user_id, "checkout", started.session_id)
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
    def billing(request: Request, user: CurrentUser, context: Context) -> dict[str, Any]:
        note_use(context, request, user.user_id)
        # `usage`: each meter the plan bills, this period (paywire.web.usage_api).
        return {**load_entitlement(context, user).as_dict(), "usage": billing_usage(context, user.user_id)}

    return router
