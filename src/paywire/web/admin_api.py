"""`GET /api/admin/metrics?from=&to=&interval=day|month`: the operator's metrics as JSON
(`paywire.insights.report`; each figure is defined in its module and in the README).

Admins only (`PAYWIRE_ADMIN_USERS`, bearer tokens as every `/api/*` route). `from` and `to`
are dates (`2026-03-01`), times (`2026-03-01T12:00Z`) or Unix seconds; by default the last
30 days by day, or the last 12 months by month. Revenue and payments are dated in Stripe's
time, webhooks in paywire's.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from paywire.context import PaywireContext
from paywire.insights.report import operator_report
from paywire.insights.windows import BadWindow, Window, parse_time, window
from paywire.web.api import BillingRoute
from paywire.web.auth import CurrentUser
from paywire.web.context import Context
from paywire.web.errors import ApiError


def requested_window(start: str | None, end: str | None, interval: str) -> Window:
    """The window a request asks for, or a 400 naming the parameter at fault."""
    try:
        return window(parse_time(start, "from"), parse_time(end, "to"), interval, now=int(time.time()))
    except BadWindow as exc:
        raise ApiError(400, str(exc), field=exc.field) from None


def metrics_for(context: PaywireContext, found: Window) -> dict[str, Any]:
    with context.sessions() as session:
        return operator_report(session, found)


def build_admin_router() -> APIRouter:
    router = APIRouter(prefix="/api/admin", tags=["admin"], route_class=BillingRoute)

    @router.get("/metrics")
    async def metrics(
        user: CurrentUser,
        context: Context,
        start: Annotated[str | None, Query(alias="from")] = None,
        end: Annotated[str | None, Query(alias="to")] = None,
        interval: str = "day",
    ) -> dict[str, Any]:
        if user.user_id not in context.settings.admin_users:
            raise ApiError(403, "Only an admin may read the metrics.", code="admin_only")
        found = requested_window(start, end, interval)
        return await run_in_threadpool(metrics_for, context, found)

    return router
