"""Sellers over HTTP (Stripe Connect): becoming one, onboarding, their state and their money.

- `POST /api/seller/onboarding`: become a seller (a connected account, once) and get `{"url"}`:
  Stripe-hosted onboarding, or once onboarded the page to update the account (what fixes a
  requirement);
- `GET /api/seller`: the caller's seller state in words (`status`), balance, sales and the
  platform's fees, payouts (a failed one in `failed_payout`); `?fresh=true` reads Stripe first;
- `POST /api/seller/dashboard`: `{"url"}`, a single-use login link to the Express Dashboard;
- `POST /api/admin/sales/{sale}/refund` `{amount?}` (admins): refund a sale (its transfer id),
  taking back from the seller per policy;
- `PUT /api/admin/sellers/{user_id}/terms` `{fee_percent, fee_fixed}` (admins): the platform's
  fee for one seller (null: the catalog's).

`require_seller()`: a dependency for product routes only a seller who can sell may use: 403
`seller_not_enabled` with the state in words (and `onboarding` to fix it) otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from paywire.billing import sellers
from paywire.billing.errors import BillingError
from paywire.billing.seller_status import SellerStatus
from paywire.context import PaywireContext
from paywire.db.models import Seller
from paywire.db.repositories import sellers as seller_rows
from paywire.stripe import StripeError
from paywire.web.api import BillingRoute, api_rate_limit, read_json_object
from paywire.web.auth import CurrentUser, Principal
from paywire.web.context import Context
from paywire.web.errors import ApiError, edge_error

ONBOARDING_ROUTE = "/api/seller/onboarding"


def seller_state(context: PaywireContext, user_id: str, *, fresh: bool = False) -> tuple[Seller | None, SellerStatus]:
    """The user's seller row (None: not a seller) and its state (blocking)."""
    with context.sessions() as session:
        seller = seller_rows.find_by_user(session, user_id)
        if seller is not None and fresh:
            seller = sellers.refresh_seller(session, context.gateway, seller)
        if seller is not None:
            session.expunge(seller)
        return seller, sellers.can_sell(seller, context.settings)


def require_seller(*, fresh: bool = False) -> Callable[..., object]:
    """FastAPI dependency: the caller is a seller who can sell now (the mirror's state, or
    Stripe's with `fresh=True`); answers 403 with the state in words otherwise. Returns the
    `Seller` row."""

    async def dependency(user: CurrentUser, context: Context) -> Seller:
        seller, status = await run_in_threadpool(seller_state, context, user.user_id, fresh=fresh)
        if seller is None or not status.can_sell:
            raise ApiError(
                403,
                f"{status.headline}. {status.detail}",
                code="seller_not_enabled",
                state=status.state,
                to_fix=status.to_fix,
                onboarding=ONBOARDING_ROUTE,
            )
        return seller

    return dependency


def _report(context: PaywireContext, user: Principal, fresh: bool) -> dict[str, Any]:
    with context.sessions() as session:
        seller = sellers.seller_of(session, user.user_id)
        if fresh:
            seller = sellers.refresh_seller(session, context.gateway, seller)
        return sellers.seller_report(session, seller, context.settings)


def _require_admin(context: PaywireContext, user: Principal) -> None:
    if user.user_id not in context.settings.admin_users:
        raise ApiError(403, "Only an admin may do this.", code="admin_only")


def _decimal_or_none(value: Any, field: str) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ApiError(400, f"{field} is a number.", field=field) from None


def build_seller_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["sellers"], route_class=BillingRoute)

    @router.post("/seller/onboarding", dependencies=[Depends(api_rate_limit)])
    def onboarding(user: CurrentUser, context: Context) -> dict[str, str]:
        try:
            with context.sessions() as session:
                url = sellers.onboarding_url(
                    session, context.gateway, context.settings, user_id=user.user_id, email=user.email
                )
        except (BillingError, StripeError) as exc:
            raise edge_error(exc) from None
        return {"url": url}

    @router.get("/seller")
    def seller(user: CurrentUser, context: Context, fresh: bool = False) -> dict[str, Any]:
        try:
            return _report(context, user, fresh)
        except (BillingError, StripeError) as exc:
            raise edge_error(exc) from None

    @router.post("/seller/dashboard", dependencies=[Depends(api_rate_limit)])
    def dashboard(user: CurrentUser, context: Context) -> dict[str, str]:
        try:
            with context.sessions() as session:
                return {"url": sellers.dashboard_url(session, context.gateway, user_id=user.user_id)}
        except (BillingError, StripeError) as exc:
            raise edge_error(exc) from None

    @router.post("/admin/sales/{sale}/refund")
    async def refund(sale: str, request: Request, user: CurrentUser, context: Context) -> dict[str, Any]:
        _require_admin(context, user)
        body = await read_json_object(request)
        unknown = set(body) - {"amount"}
        if unknown:
            raise ApiError(400, "Unknown field.", field=sorted(unknown)[0])
        amount = body.get("amount")
        if amount is not None and (not isinstance(amount, int) or isinstance(amount, bool)):
            raise ApiError(400, "amount is a whole number of the currency's smallest unit.", field="amount")

        def run() -> dict[str, Any]:
            with context.sessions() as session:
                return sellers.refund_sale(session, context.gateway, context.settings, transfer_id=sale, amount=amount)

        try:
            return await run_in_threadpool(run)
        except (BillingError, StripeError) as exc:
            raise edge_error(exc) from None

    @router.put("/admin/sellers/{user_id}/terms")
    async def terms(user_id: str, request: Request, user: CurrentUser, context: Context) -> dict[str, Any]:
        _require_admin(context, user)
        body = await read_json_object(request)
        unknown = set(body) - {"fee_percent", "fee_fixed"}
        if unknown:
            raise ApiError(400, "Unknown field.", field=sorted(unknown)[0])
        percent = _decimal_or_none(body.get("fee_percent"), "fee_percent")
        fixed = body.get("fee_fixed")
        if fixed is not None and (not isinstance(fixed, int) or isinstance(fixed, bool)):
            raise ApiError(400, "fee_fixed is a whole number of the currency's smallest unit.", field="fee_fixed")

        def run() -> dict[str, Any]:
            with context.sessions() as session:
                seller = seller_rows.find_by_user(session, user_id)
                if seller is None:
                    raise ApiError(404, f"No seller {user_id!r}.", code="not_a_seller")
                sellers.set_terms(session, seller, fee_percent=percent, fee_fixed=fixed)
                return sellers.terms_of(seller)

        try:
            return await run_in_threadpool(run)
        except BillingError as exc:
            raise edge_error(exc) from None

    return router
