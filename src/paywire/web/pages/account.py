"""The account page and its actions, for the signed-in subscriber.

    GET  /account
    POST /account/change/preview           plan, interval, quantity: the proration preview, to confirm
    POST /account/change                   plan, interval, quantity, proration_date (the preview's)
    POST /account/pending-change/cancel    undo a downgrade waiting for the period end
    POST /account/cancel | /reactivate | /pause | /resume
    POST /account/discount                 promotion_code
    POST /account/portal                   303 to Stripe's customer portal

Every action is a form with a CSRF token. It calls the billing operation the JSON API calls
(`paywire.web.operations.run_billing`, the same functions and arguments), then redirects to
the page with a flash message. A refused operation changed nothing: the page shows its message
with the status the API would answer (`edge_error`, the one mapping), so it works without
JavaScript and a script can still tell success from failure.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import cache
from importlib import resources

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from paywire.billing import cancellation, pausing, plan_changes, previews, promotions
from paywire.billing.errors import BillingError
from paywire.billing.plan_changes import PAYMENT_PENDING_MESSAGES, ChangeOutcome
from paywire.billing.portal import open_portal
from paywire.stripe import StripeError
from paywire.web.context import Context, PaywireContext
from paywire.web.errors import ApiError, edge_error
from paywire.web.operations import run_billing
from paywire.web.pages.account_forms import ChangeRequest, change_request, promotion_code
from paywire.web.pages.account_view import load_account
from paywire.web.pages.csrf import checked_form
from paywire.web.pages.render import date, money, redirect_with_flash, render
from paywire.web.pages.routing import page_router
from paywire.web.pages.session import PageUser, SignedInPageUser

log = logging.getLogger("paywire.web")

ACCOUNT = "/account"

router = page_router()
STYLESHEET = "account.css"


@cache
def _stylesheet() -> bytes:
    return resources.files("paywire.web").joinpath(f"templates/pages/{STYLESHEET}").read_bytes()


@router.get("/static/" + STYLESHEET)
def stylesheet() -> Response:
    """The account page's own styles, next to the shared `pages.css` (CSP: styles from this site only)."""
    response = Response(_stylesheet(), media_type="text/css; charset=utf-8")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@router.get(ACCOUNT)
async def account(request: Request, user: SignedInPageUser, context: Context) -> HTMLResponse:
    return await _account_page(request, context, user)


@router.post(ACCOUNT + "/change/preview", response_model=None)
async def preview_change(request: Request, user: SignedInPageUser, context: Context) -> Response:
    form = await checked_form(request)
    try:
        _check_rate(request, context, user)
        wanted = change_request(context.catalog, form)
        preview = await run_billing(
            context,
            lambda ctx: previews.preview_change(
                ctx,
                user_id=user.user_id,
                plan=wanted.plan,
                interval=wanted.interval,
                quantity=wanted.quantity,
                subscription_id=wanted.subscription,
            ),
        )
    except (ApiError, BillingError, StripeError) as exc:
        return await _refused(request, context, user, "preview", exc)
    return render(
        request,
        "account_preview.html",
        preview=preview,
        target=_describe(context, wanted),
        wanted=wanted,
        active="account",
    )


@router.post(ACCOUNT + "/change", response_model=None)
async def change(request: Request, user: SignedInPageUser, context: Context) -> Response:
    form = await checked_form(request)
    try:
        _check_rate(request, context, user)
        wanted = change_request(context.catalog, form)
        outcome = await run_billing(
            context,
            lambda ctx: plan_changes.change_plan(
                ctx,
                user_id=user.user_id,
                plan=wanted.plan,
                interval=wanted.interval,
                quantity=wanted.quantity,
                proration_date=wanted.proration_date,
                subscription_id=wanted.subscription,
            ),
        )
    except (ApiError, BillingError, StripeError) as exc:
        return await _refused(request, context, user, "change", exc)
    return _done(request, _changed_message(context, wanted, outcome), error=outcome.waiting_for_payment)


@router.post(ACCOUNT + "/pending-change/cancel", response_model=None)
async def cancel_pending_change(request: Request, user: SignedInPageUser, context: Context) -> Response:
    async def act() -> str:
        dropped = await run_billing(context, lambda ctx: plan_changes.cancel_pending_change(ctx, user_id=user.user_id))
        plan = context.catalog.plan(dropped.plan or "")
        return f"The change to {plan.name if plan else dropped.plan} is canceled: your plan stays as it is."

    return await _action(request, context, user, "cancel pending change", act)


@router.post(ACCOUNT + "/cancel", response_model=None)
async def cancel(request: Request, user: SignedInPageUser, context: Context) -> Response:
    async def act() -> str:
        outcome = await run_billing(context, lambda ctx: cancellation.cancel(ctx, user_id=user.user_id))
        dropped = " The scheduled plan change was dropped." if outcome.dropped_pending_change else ""
        return f"Your subscription is canceled; you keep access until {date(outcome.ends_at)}.{dropped}"

    return await _action(request, context, user, "cancel", act)


@router.post(ACCOUNT + "/reactivate", response_model=None)
async def reactivate(request: Request, user: SignedInPageUser, context: Context) -> Response:
    async def act() -> str:
        await run_billing(context, lambda ctx: cancellation.reactivate(ctx, user_id=user.user_id))
        return "Your subscription is reactivated: it renews as before."

    return await _action(request, context, user, "reactivate", act)


@router.post(ACCOUNT + "/pause", response_model=None)
async def pause(request: Request, user: SignedInPageUser, context: Context) -> Response:
    async def act() -> str:
        await run_billing(context, lambda ctx: pausing.pause(ctx, user_id=user.user_id))
        return "Your subscription is paused: no charges and no access until you resume it."

    return await _action(request, context, user, "pause", act)


@router.post(ACCOUNT + "/resume", response_model=None)
async def resume(request: Request, user: SignedInPageUser, context: Context) -> Response:
    async def act() -> str:
        await run_billing(context, lambda ctx: pausing.unpause(ctx, user_id=user.user_id))
        return "Your subscription is resumed."

    return await _action(request, context, user, "resume", act)


@router.post(ACCOUNT + "/discount", response_model=None)
async def discount(request: Request, user: SignedInPageUser, context: Context) -> Response:
    form = await checked_form(request)
    try:
        _check_rate(request, context, user)
        code = promotion_code(form)
        applied = await run_billing(
            context, lambda ctx: promotions.apply_promotion_code(ctx, user_id=user.user_id, code=code)
        )
    except (ApiError, BillingError, StripeError) as exc:
        return await _refused(request, context, user, "discount", exc)
    if applied.percent_off is not None:
        off = f"{applied.percent_off:g}% off"
    elif applied.amount_off is not None:
        off = f"{money(applied.amount_off, context.catalog.currency)} off"
    else:
        off = "a discount"
    return _done(request, f"Promotion code {applied.promotion_code} applied: {off}.")


@router.post(ACCOUNT + "/portal", response_model=None)
async def portal(request: Request, user: SignedInPageUser, context: Context) -> Response:
    await checked_form(request)
    try:
        _check_rate(request, context, user)
        url = await run_in_threadpool(_portal_url, context, user.user_id)
    except (ApiError, BillingError, StripeError) as exc:
        return await _refused(request, context, user, "portal", exc)
    return RedirectResponse(url, status_code=303)


def _portal_url(context: PaywireContext, user_id: str) -> str:
    with context.sessions() as session:
        return open_portal(session, context.gateway, context.settings, user_id=user_id)


# ----- shared steps ----------------------------------------------------------------------------
async def _action(
    request: Request, context: PaywireContext, user: PageUser, what: str, act: Callable[[], Awaitable[str]]
) -> Response:
    """A form without fields: check the token and the rate, act, redirect with the message."""
    await checked_form(request)
    try:
        _check_rate(request, context, user)
        message = await act()
    except (ApiError, BillingError, StripeError) as exc:
        return await _refused(request, context, user, what, exc)
    return _done(request, message)


def _done(request: Request, message: str, *, error: bool = False) -> RedirectResponse:
    return redirect_with_flash(request, ACCOUNT, message, kind="error" if error else "success")


async def _account_page(
    request: Request, context: PaywireContext, user: PageUser, *, status: int = 200, error: str | None = None
) -> HTMLResponse:
    view = await run_in_threadpool(load_account, context, user.user_id, user.email)
    return render(request, "account.html", status=status, account=view, error=error, active="account")


async def _refused(
    request: Request, context: PaywireContext, user: PageUser, what: str, exc: ApiError | BillingError | StripeError
) -> HTMLResponse:
    """The account page with the refusal's message, at the status the JSON API answers it."""
    edge = exc if isinstance(exc, ApiError) else edge_error(exc)
    log.info("account %s for %s refused: %r", what, user.user_id, exc)
    message = str(edge.payload["error"]["message"])
    response = await _account_page(request, context, user, status=edge.status_code, error=message)
    for name, value in (edge.headers or {}).items():
        response.headers.setdefault(name, value)
    return response


def _check_rate(request: Request, context: PaywireContext, user: PageUser) -> None:
    """The API's per-user limit (`PAYWIRE_API_RATE_LIMIT`), shared with the JSON routes' buckets
    by path only: the pages have paths of their own."""
    route = request.scope.get("route")
    retry_after = context.api_limiter.retry_after(user.user_id, getattr(route, "path", request.url.path))
    if retry_after is not None:
        raise ApiError(429, "Too many requests; try again shortly.", headers={"Retry-After": str(retry_after)})


def _describe(context: PaywireContext, wanted: ChangeRequest) -> str:
    """What the user asked for, in words: `Pro (monthly, 3 seats)`."""
    plan = context.catalog.plan(wanted.plan or "")
    if plan is None:
        return str(wanted.plan)
    details = []
    if wanted.interval:
        details.append({"month": "monthly", "year": "yearly"}.get(wanted.interval, wanted.interval))
    if plan.per_seat and wanted.quantity is not None:
        details.append(f"{wanted.quantity} seat{'s' if wanted.quantity != 1 else ''}")
    return f"{plan.name} ({', '.join(details)})" if details else plan.name


def _changed_message(context: PaywireContext, wanted: ChangeRequest, outcome: ChangeOutcome) -> str:
    target = _describe(context, wanted)
    if outcome.waiting_for_payment:
        return PAYMENT_PENDING_MESSAGES[outcome.status]
    if outcome.status == "scheduled":
        return f"Your plan changes to {target} on {date(outcome.effective_date)}; until then nothing changes."
    invoice = outcome.invoice or {}
    paid = invoice.get("amount_paid")
    charged = f" {money(int(paid), str(invoice.get('currency')))} was charged." if paid else ""
    return f"You are now on {target}.{charged}"
