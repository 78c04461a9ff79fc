"""The account page and its actions, for the signed-in subscriber.

    GET  /account
    POST /account/change/preview           plan, interval, quantity: the proration preview, to confirm
    POST /account/change                   plan, interval, quantity, proration_date (the preview's)
    POST /account/pending-change/cancel    undo a downgrade waiting for the period end
    GET  /account/cancel | /pause          what it means, and the confirming form
    POST /account/cancel | /pause          confirm=yes (without it: 303 to the confirmation)
    POST /account/reactivate | /unpause
    POST /account/discount                 promotion_code
    POST /account/portal                   303 to Stripe's customer portal
    POST /account/clock                    by (31d …): time travel, in dev mode with PAYWIRE_TEST_CLOCKS

Every action is a form with a CSRF token. It calls the billing operation the JSON API calls
(`paywire.web.operations.run_billing`, the same functions and arguments), then redirects to
the page with a flash message. A refused operation changed nothing: it redirects too (a reload
never sends the form again) and the account page shows its message, answering with the status
the API would (`edge_error`, the one mapping), so it works without JavaScript and a script can
still tell success from failure. Canceling and pausing are asked twice: the page's button opens
a confirmation saying what it means.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from paywire.billing import cancellation, pausing, plan_changes, previews, promotions
from paywire.billing.current import NO_SUBSCRIPTION
from paywire.billing.errors import BillingError
from paywire.billing.lifecycle import Operation, refusal
from paywire.billing.plan_changes import PAYMENT_PENDING_MESSAGES, ChangeOutcome
from paywire.billing.portal import open_portal
from paywire.billing.refunds import refund_own_purchase
from paywire.context import PaywireContext
from paywire.stripe import StripeError
from paywire.timetravel import ClockRefused, advance, parse_span
from paywire.web.access import note_use
from paywire.web.context import Context
from paywire.web.errors import ApiError, edge_error
from paywire.web.operations import run_billing
from paywire.web.pages.account_forms import ChangeRequest, change_request, promotion_code
from paywire.web.pages.account_view import AccountView, load_account
from paywire.web.pages.assets import page_file
from paywire.web.pages.csrf import checked_form
from paywire.web.pages.render import date, money, read_flash, redirect, redirect_with_flash, render
from paywire.web.pages.routing import page_router
from paywire.web.pages.session import PageUser, SignedInPageUser

log = logging.getLogger("paywire.web")

ACCOUNT = "/account"

router = page_router()
STYLESHEET = "account.css"


@router.get("/static/" + STYLESHEET)
def stylesheet() -> Response:
    """The account page's own styles, next to the shared `pages.css` (CSP: styles from this site only)."""
    return page_file(STYLESHEET, "text/css; charset=utf-8")


@router.get(ACCOUNT)
async def account(request: Request, user: SignedInPageUser, context: Context) -> HTMLResponse:
    await run_in_threadpool(note_use, context, request, user.user_id)
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


@router.get(ACCOUNT + "/cancel", response_model=None)
async def confirm_cancel(request: Request, user: SignedInPageUser, context: Context) -> Response:
    return await _confirmation(request, context, user, Operation.CANCEL)


@router.post(ACCOUNT + "/cancel", response_model=None)
async def cancel(request: Request, user: SignedInPageUser, context: Context) -> Response:
    async def act() -> str:
        outcome = await run_billing(context, lambda ctx: cancellation.cancel(ctx, user_id=user.user_id))
        dropped = " The scheduled plan change was dropped." if outcome.dropped_pending_change else ""
        return f"Your subscription is canceled; you keep access until {date(outcome.ends_at)}.{dropped}"

    return await _action(request, context, user, "cancel", act, confirmed_at=ACCOUNT + "/cancel")


@router.post(ACCOUNT + "/reactivate", response_model=None)
async def reactivate(request: Request, user: SignedInPageUser, context: Context) -> Response:
    async def act() -> str:
        await run_billing(context, lambda ctx: cancellation.reactivate(ctx, user_id=user.user_id))
        return "Your subscription is reactivated: it renews as before."

    return await _action(request, context, user, "reactivate", act)


@router.get(ACCOUNT + "/pause", response_model=None)
async def confirm_pause(request: Request, user: SignedInPageUser, context: Context) -> Response:
    return await _confirmation(request, context, user, Operation.PAUSE)


@router.post(ACCOUNT + "/pause", response_model=None)
async def pause(request: Request, user: SignedInPageUser, context: Context) -> Response:
    async def act() -> str:
        await run_billing(context, lambda ctx: pausing.pause(ctx, user_id=user.user_id))
        return "Your subscription is paused: no charges and no access until you unpause it."

    return await _action(request, context, user, "pause", act, confirmed_at=ACCOUNT + "/pause")


@router.post(ACCOUNT + "/unpause", response_model=None)
@router.post(ACCOUNT + "/resume", response_model=None)  # the former name, kept for old pages
async def unpause(request: Request, user: SignedInPageUser, context: Context) -> Response:
    async def act() -> str:
        await run_billing(context, lambda ctx: pausing.unpause(ctx, user_id=user.user_id))
        return "Your subscription is unpaused: a new billing period starts now."

    return await _action(request, context, user, "unpause", act)


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


@router.post(ACCOUNT + "/refund", response_model=None)
async def refund(request: Request, user: SignedInPageUser, context: Context) -> Response:
    """The customer's own refund of a purchase, within the self-service window, once."""
    form = await checked_form(request)

    def act() -> str:
        with context.sessions() as session:
            done = refund_own_purchase(
                session, context.gateway, context.settings, user_id=user.user_id, payment_id=form.get("payment", "")
            )
        return f"Refunded {done['amount'] / 100:.2f} {done['currency'].upper()}: it reaches your card in 5 to 10 days."

    try:
        message = await run_in_threadpool(act)
    except (BillingError, StripeError) as exc:
        return await _refused(request, context, user, "refund", exc)
    return _done(request, message)


@router.post(ACCOUNT + "/portal", response_model=None)
async def portal(request: Request, user: SignedInPageUser, context: Context) -> Response:
    await checked_form(request)
    try:
        _check_rate(request, context, user)
        url = await run_in_threadpool(_portal_url, context, user.user_id)
    except (ApiError, BillingError, StripeError) as exc:
        return await _refused(request, context, user, "portal", exc)
    return RedirectResponse(url, status_code=303)


@router.post(ACCOUNT + "/clock", response_model=None)
async def time_travel(request: Request, user: SignedInPageUser, context: Context) -> Response:
    """Dev mode's control: advance the user's own test clock, as `paywire clock advance` does."""
    form = await checked_form(request)
    if not _time_travel(context):
        raise HTTPException(404)
    try:
        span = parse_span(str(form.get("by") or ""))
        travel = await run_in_threadpool(
            advance, context.settings, context.sessions, context.gateway, user_id=user.user_id, by=span
        )
    except ClockRefused as exc:
        return _done(request, f"The clock did not move: {exc}.", error=True)
    mails = "; ".join(travel.mails) or "none"
    return _done(
        request,
        f"The clock moved to {date(travel.after)}: {len(travel.events)} events, "
        f"{len(travel.invoices)} invoices changed. Mails: {mails}.",
    )


def _time_travel(context: PaywireContext) -> bool:
    return context.settings.dev_mode and context.settings.test_clocks and not context.settings.is_live_key


def _portal_url(context: PaywireContext, user_id: str) -> str:
    with context.sessions() as session:
        return open_portal(session, context.gateway, context.settings, user_id=user_id)


async def _confirmation(request: Request, context: PaywireContext, user: PageUser, operation: Operation) -> Response:
    """The page asking to confirm `operation`, or, if the subscription cannot do it now, the
    account page with the reason (as the operation itself would answer: nothing is asked)."""
    view = await run_in_threadpool(load_account, context, user.user_id, user.email)
    sub = view.subscription
    if sub is None:
        return _refusal(request, NO_SUBSCRIPTION, 404)
    if not sub.can(operation.value):
        return _refusal(request, refusal(sub.state, operation), 409)
    return render(request, "account_confirm.html", account=view, operation=operation.value, active="account")


async def _action(
    request: Request,
    context: PaywireContext,
    user: PageUser,
    what: str,
    act: Callable[[], Awaitable[str]],
    *,
    confirmed_at: str | None = None,
) -> Response:
    """A form without fields: check the token and the rate, act, redirect with the message.
    `confirmed_at`: the action is done only with `confirm=yes` (its confirmation page's form);
    without, the browser is sent to that page."""
    form = await checked_form(request)
    if confirmed_at is not None and form.get("confirm") != "yes":
        return redirect(confirmed_at)
    try:
        _check_rate(request, context, user)
        message = await act()
    except (ApiError, BillingError, StripeError) as exc:
        return await _refused(request, context, user, what, exc)
    return _done(request, message)


def _done(request: Request, message: str, *, error: bool = False) -> RedirectResponse:
    return redirect_with_flash(request, ACCOUNT, message, kind="error" if error else "success")


async def _account_page(request: Request, context: PaywireContext, user: PageUser) -> HTMLResponse:
    """The page; a refusal's message (a flash carrying its status) is shown as its alert, and
    the page answers with the refusal's status (`render`)."""
    view: AccountView = await run_in_threadpool(load_account, context, user.user_id, user.email)
    flash = read_flash(request)
    if flash is not None and flash.status is not None:
        return render(
            request,
            "account.html",
            account=view,
            error=flash.text,
            flash=None,
            active="account",
            time_travel=_time_travel(context),
        )
    return render(
        request, "account.html", account=view, error=None, active="account", time_travel=_time_travel(context)
    )


async def _refused(
    request: Request, context: PaywireContext, user: PageUser, what: str, exc: ApiError | BillingError | StripeError
) -> Response:
    """Back to the account page with the refusal's message, which answers at the status the
    JSON API answers it with (and its Retry-After)."""
    edge = exc if isinstance(exc, ApiError) else edge_error(exc)
    log.info("account %s for %s refused: %r", what, user.user_id, exc)
    retry_after = (edge.headers or {}).get("Retry-After")
    return _refusal(request, str(edge.payload["error"]["message"]), edge.status_code, retry_after)


def _refusal(request: Request, message: str, status: int, retry_after: str | None = None) -> Response:
    response = redirect_with_flash(request, ACCOUNT, message, kind="error", status=status, retry_after=retry_after)
    if retry_after:
        response.headers["Retry-After"] = retry_after
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
