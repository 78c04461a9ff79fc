"""The subscription lifecycle over HTTP: the caller's own subscription, never another's.

    POST /api/subscription/preview                 {plan, interval, quantity}
    POST /api/subscription/change                  {plan, interval, quantity, proration_date?}
    POST /api/subscription/pending-change/cancel
    POST /api/subscription/cancel                  at the period end
    POST /api/subscription/reactivate              before it ends
    POST /api/subscription/pause | /unpause (alias: /resume)
    POST /api/subscription/discount                {promotion_code}
    POST /api/admin/users/{user_id}/subscription/cancel-now   {refund}   (PAYWIRE_ADMIN_USERS)

Every body may name `subscription` (an id): it must be the caller's. Each answer carries
`billing`, the caller's `GET /api/billing` after the operation, from the freshly updated mirror.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from paywire.billing import cancellation, pausing, plan_changes, previews, promotions
from paywire.billing.errors import BillingError
from paywire.billing.operations import BillingContext
from paywire.billing.plan_changes import PAYMENT_PENDING_MESSAGES
from paywire.context import PaywireContext
from paywire.stripe import StripeError
from paywire.web.api import PRICE_FIELDS, BillingRoute, api_rate_limit, load_entitlement, read_json_object, validated
from paywire.web.auth import CurrentUser, Principal
from paywire.web.context import Context
from paywire.web.errors import ApiError, edge_error
from paywire.web.operations import run_billing

log = logging.getLogger("paywire.web")

Model = TypeVar("Model", bound=BaseModel)
T = TypeVar("T")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    subscription: str | None = None


class ChangeBody(_Body):
    plan: str | None = None
    interval: str | None = None
    quantity: int | None = None


class ConfirmChangeBody(ChangeBody):
    proration_date: int | None = None


class DiscountBody(_Body):
    promotion_code: str | None = None


class AdminCancelBody(_Body):
    refund: bool = False


class EmptyBody(_Body):
    pass


def parse_body(model: type[Model], data: dict[str, Any]) -> Model:
    for key in data:
        if key in PRICE_FIELDS:
            raise ApiError(
                400, "Prices and amounts come from the catalog: name a plan, interval and quantity.", field=key
            )
    return validated(model, data)


async def _run(context: PaywireContext, user: Principal, what: str, operation: Callable[[BillingContext], T]) -> T:
    """Run an operation in a worker thread with a fresh session; billing outcomes become
    their HTTP errors here, once."""
    try:
        return await run_billing(context, operation)
    except (BillingError, StripeError) as exc:
        log.info("%s for %s refused: %r", what, user.user_id, exc)
        raise edge_error(exc) from None


async def _billing(context: PaywireContext, user: Principal) -> dict[str, Any]:
    entitlement = await run_in_threadpool(load_entitlement, context, user)
    return entitlement.as_dict()


class SimpleOutcome(Protocol):
    def as_dict(self) -> dict[str, Any]: ...


def _simple_operation(
    name: str, operation: Callable[..., SimpleOutcome]
) -> Callable[[Request, Principal, PaywireContext], Awaitable[dict[str, Any]]]:
    """The route of an operation on the caller's subscription that takes no other input."""

    async def route(request: Request, user: CurrentUser, context: Context) -> dict[str, Any]:
        body = parse_body(EmptyBody, await read_json_object(request))
        outcome = await _run(
            context, user, name, lambda ctx: operation(ctx, user_id=user.user_id, subscription_id=body.subscription)
        )
        return {**outcome.as_dict(), "billing": await _billing(context, user)}

    return route


def build_subscription_router() -> APIRouter:
    router = APIRouter(
        prefix="/api", tags=["subscription"], route_class=BillingRoute, dependencies=[Depends(api_rate_limit)]
    )

    @router.post("/subscription/preview")
    async def preview(request: Request, user: CurrentUser, context: Context) -> dict[str, Any]:
        body = parse_body(ChangeBody, await read_json_object(request))
        result = await _run(
            context,
            user,
            "preview",
            lambda ctx: previews.preview_change(
                ctx,
                user_id=user.user_id,
                plan=body.plan,
                interval=body.interval,
                quantity=body.quantity,
                subscription_id=body.subscription,
            ),
        )
        return result.as_dict()

    @router.post("/subscription/change", response_model=None)
    async def change(request: Request, user: CurrentUser, context: Context) -> dict[str, Any] | JSONResponse:
        body = parse_body(ConfirmChangeBody, await read_json_object(request))
        outcome = await _run(
            context,
            user,
            "change",
            lambda ctx: plan_changes.change_plan(
                ctx,
                user_id=user.user_id,
                plan=body.plan,
                interval=body.interval,
                quantity=body.quantity,
                proration_date=body.proration_date,
                subscription_id=body.subscription,
            ),
        )
        answer = {**outcome.as_dict(), "billing": await _billing(context, user)}
        if outcome.waiting_for_payment:
            # Not an error in paywire, but the upgrade is not in effect: 402 so no client
            # mistakes it for done; the hosted invoice page is where the user fixes it.
            answer["hosted_invoice_url"] = outcome.hosted_invoice_url
            answer["error"] = {
                "message": PAYMENT_PENDING_MESSAGES[outcome.status],
                "field": None,
                "code": outcome.status,
            }
            return JSONResponse(answer, status_code=402)
        return answer

    @router.post("/subscription/pending-change/cancel")
    async def cancel_pending_change(request: Request, user: CurrentUser, context: Context) -> dict[str, Any]:
        body = parse_body(EmptyBody, await read_json_object(request))
        dropped = await _run(
            context,
            user,
            "cancel pending change",
            lambda ctx: plan_changes.cancel_pending_change(
                ctx, user_id=user.user_id, subscription_id=body.subscription
            ),
        )
        return {
            "status": "canceled",
            "canceled_change": {
                "plan": dropped.plan,
                "interval": dropped.interval,
                "quantity": dropped.quantity,
                "effective_date": dropped.effective_date,
            },
            "billing": await _billing(context, user),
        }

    # The operations that take nothing but the subscription, each answering its outcome. The
    # `/subscription/resume` alias is the unpause route's former name: in paywire's (Cashier's)
    # words "resume" undoes a pending cancellation, which is `/subscription/reactivate`.
    for path, name, operation in (
        ("/subscription/cancel", "cancel", cancellation.cancel),
        ("/subscription/reactivate", "reactivate", cancellation.reactivate),
        ("/subscription/pause", "pause", pausing.pause),
        ("/subscription/unpause", "unpause", pausing.unpause),
        ("/subscription/resume", "unpause", pausing.unpause),
    ):
        router.add_api_route(
            path,
            _simple_operation(name, operation),
            methods=["POST"],
            name=f"{name} ({path})",
            include_in_schema=not path.endswith("/resume"),
        )

    @router.post("/subscription/discount")
    async def discount(request: Request, user: CurrentUser, context: Context) -> dict[str, Any]:
        body = parse_body(DiscountBody, await read_json_object(request))
        applied = await _run(
            context,
            user,
            "discount",
            lambda ctx: promotions.apply_promotion_code(
                ctx, user_id=user.user_id, code=body.promotion_code or "", subscription_id=body.subscription
            ),
        )
        return {"discount": applied.as_dict(), "billing": await _billing(context, user)}

    @router.post("/admin/users/{user_id}/subscription/cancel-now")
    async def cancel_now(user_id: str, request: Request, user: CurrentUser, context: Context) -> dict[str, Any]:
        if user.user_id not in context.settings.admin_users:
            raise ApiError(403, "Only an admin may cancel a subscription immediately.", code="admin_only")
        body = parse_body(AdminCancelBody, await read_json_object(request))
        outcome = await _run(
            context,
            user,
            "cancel now",
            lambda ctx: cancellation.cancel_now(
                ctx, admin_user_id=user.user_id, user_id=user_id, refund=body.refund, subscription_id=body.subscription
            ),
        )
        log.warning("admin %s canceled %s's subscription now (refunded %s)", user.user_id, user_id, outcome.refunded)
        return outcome.as_dict()

    return router
