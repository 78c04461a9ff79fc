"""Back from Checkout: the return page at PAYWIRE_CHECKOUT_SUCCESS_PATH, its status route,
and the cancel page at PAYWIRE_CHECKOUT_CANCEL_PATH (the pricing page shows it by default).

Landing here proves nothing (anyone can type the URL), and Stripe saying the session is
complete grants nothing either: the page says "confirming your payment" until the *mirror*
holds what the verified webhook brought — the subscription active, or the pass's order
fulfilled. Stripe is asked about the session only to learn whose it is, which subscription it
created, and whether it was left unpaid or expired. A session of another user (or none) gets
one and the same answer, so nothing about it leaks.

Without JavaScript the page refreshes itself (`<noscript><meta refresh>`); with it, it asks
`GET /checkout/status` and reloads when the answer changes. `since` in the URL is when the
waiting started: after `PATIENCE_SECONDS` the page says the payment is not confirmed yet and
what to do (it only changes the words, never what is granted).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from paywire.catalog import Catalog
from paywire.config import Settings
from paywire.context import PaywireContext
from paywire.db.repositories import orders, subscriptions
from paywire.stripe import Kind, StripeError, StripeNotFound
from paywire.web.context import Context
from paywire.web.errors import SECURITY_HEADERS
from paywire.web.pages.render import render
from paywire.web.pages.routing import page_router
from paywire.web.pages.session import OptionalPageUser, PageUser, SignedInPageUser

log = logging.getLogger("paywire.web")

PATIENCE_SECONDS = 60
POLL_SECONDS = 2
SLOW_POLL_SECONDS = 10
STATUS_PATH = "/checkout/status"
SESSION_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"
CHECKOUT_SESSION_ID = re.compile(r"^cs_[A-Za-z0-9_]{1,200}$")
GRANTING = ("active", "trialing")
ENDED = ("incomplete_expired", "canceled", "unpaid")


class ReturnState(StrEnum):
    CONFIRMING = "confirming"  # paid or being paid; the webhook is not processed yet
    SLOW = "slow"  # still confirming after PATIENCE_SECONDS
    CONFIRMED = "confirmed"  # the mirror shows the subscription active / the pass fulfilled
    NOT_PAID = "not_paid"  # the checkout is still open: nothing was paid
    FAILED = "failed"  # the payment did not go through
    EXPIRED = "expired"  # the checkout expired unpaid
    UNKNOWN = "unknown"  # no such checkout of this user


@dataclass(frozen=True)
class CheckoutReturn:
    state: ReturnState
    kind: str | None = None  # "subscription" | "pass"
    plan_name: str | None = None
    interval: str | None = None
    quantity: int | None = None
    renews_at: int | None = None
    access_until: int | None = None
    checkout_url: str | None = None  # to finish an open checkout

    @property
    def waiting(self) -> bool:
        return self.state in (ReturnState.CONFIRMING, ReturnState.SLOW)


def session_param(settings: Settings) -> str:
    """The query parameter of the success path that carries the Checkout Session's id."""
    for name, value in parse_qsl(urlsplit(settings.checkout_success_path).query):
        if value == SESSION_PLACEHOLDER:
            return name
    return "session_id"


def _plan_name(catalog: Catalog, key: str | None) -> str | None:
    plan = catalog.plan(key) if key else None
    return plan.name if plan else key


def confirm_checkout(context: PaywireContext, user: PageUser, session_id: str) -> CheckoutReturn:
    """Where `user`'s checkout `session_id` stands, access judged from the mirror only.
    Blocking (Stripe and the database): call from a worker thread."""
    if not CHECKOUT_SESSION_ID.match(session_id):
        return CheckoutReturn(ReturnState.UNKNOWN)
    try:
        fresh = context.gateway.retrieve(Kind.CHECKOUT_SESSION, session_id)
    except StripeNotFound:
        return CheckoutReturn(ReturnState.UNKNOWN)
    except StripeError as exc:
        log.warning("checkout return: cannot read %s: %r", session_id, exc)
        return CheckoutReturn(ReturnState.CONFIRMING)
    owner = fresh.get("client_reference_id") or (fresh.get("metadata") or {}).get("user_id")
    if owner != user.user_id:
        return CheckoutReturn(ReturnState.UNKNOWN)
    found = _from_mirror(context, user, fresh)
    if found is not None:
        return found
    if fresh.get("status") == "expired":
        return CheckoutReturn(ReturnState.EXPIRED)
    if fresh.get("status") == "open":
        return CheckoutReturn(ReturnState.NOT_PAID, checkout_url=fresh.get("url"))
    return CheckoutReturn(ReturnState.CONFIRMING)


def _from_mirror(context: PaywireContext, user: PageUser, fresh: dict[str, object]) -> CheckoutReturn | None:
    with context.sessions() as session:
        if fresh.get("mode") == "payment":
            order = orders.find_by_checkout_session(session, str(fresh["id"]))
            if order is None or order.user_id != user.user_id:
                return None
            if order.status == "fulfilled":
                return CheckoutReturn(
                    ReturnState.CONFIRMED,
                    kind="pass",
                    plan_name=_plan_name(context.catalog, order.grants_plan),
                    access_until=order.access_ends_at,
                )
            return CheckoutReturn(ReturnState.FAILED, kind="pass") if order.status == "failed" else None
        subscription = fresh.get("subscription")
        subscription_id = subscription.get("id") if isinstance(subscription, dict) else subscription
        row = subscriptions.find(session, subscription_id) if isinstance(subscription_id, str) else None
        if row is None or row.user_id != user.user_id:
            return None
        if row.status in GRANTING:
            return CheckoutReturn(
                ReturnState.CONFIRMED,
                kind="subscription",
                plan_name=_plan_name(context.catalog, row.plan),
                interval=row.interval,
                quantity=row.quantity,
                renews_at=None if row.cancel_at_period_end else row.current_period_end,
            )
        return CheckoutReturn(ReturnState.FAILED, kind="subscription") if row.status in ENDED else None


def _waited_long(since: int | None, now: float) -> bool:
    return since is not None and now - since > PATIENCE_SECONDS


def _judge(state: CheckoutReturn, since: int | None) -> CheckoutReturn:
    if state.state is ReturnState.CONFIRMING and _waited_long(since, time.time()):
        return CheckoutReturn(ReturnState.SLOW)
    return state


def build_checkout_return_router(settings: Settings | None) -> APIRouter:
    success = urlsplit(settings.checkout_success_path if settings else "/billing/success").path or "/billing/success"
    cancel = urlsplit(settings.checkout_cancel_path if settings else "/pricing").path or "/pricing"
    param = session_param(settings) if settings else "session_id"
    router = page_router()

    def return_page(request: Request, context: Context, user: SignedInPageUser) -> Response:
        session_id = request.query_params.get(param, "")
        since = _since(request.query_params.get("since"))
        found = _judge(confirm_checkout(context, user, session_id), since)
        query = urlencode({param: session_id, "since": since})
        return render(
            request,
            "checkout_return.html",
            active="account",
            result=found,
            page_url=f"{success}?{query}",
            status_url=f"{STATUS_PATH}?{query}",
            refresh_seconds=SLOW_POLL_SECONDS if found.state is ReturnState.SLOW else POLL_SECONDS,
        )

    async def status(
        request: Request,
        context: Context,
        user: OptionalPageUser,
        since: Annotated[str | None, Query()] = None,
    ) -> Response:
        if user is None:
            return JSONResponse({"state": "signed_out"}, status_code=401, headers=SECURITY_HEADERS)
        session_id = request.query_params.get(param, "")
        found = await run_in_threadpool(confirm_checkout, context, user, session_id)
        return JSONResponse({"state": _judge(found, _since(since)).state.value}, headers=SECURITY_HEADERS)

    def cancel_page(request: Request) -> Response:
        return render(request, "checkout_canceled.html", active="pricing")

    router.add_api_route(success, return_page, methods=["GET"])
    router.add_api_route(STATUS_PATH, status, methods=["GET"])
    if cancel not in ("/", "/pricing"):
        router.add_api_route(cancel, cancel_page, methods=["GET"])
    return router


def _since(raw: str | None) -> int:
    """When the waiting began: as the page said, or now. Only words depend on it."""
    now = int(time.time())
    if raw and raw.isdigit() and now - 7 * 86400 < int(raw) <= now:
        return int(raw)
    return now
