"""The operator's dashboard, for admins (`PAYWIRE_ADMIN_USERS`) signed in to the pages.

    GET /admin?from=2026-03-01&through=2026-03-31&interval=day|month

MRR over time with its movements, churn, payment success, webhook health, the recent failed
payments with their dunning state, the recent cancellations with the reason Stripe collected,
and open disputes (each with its page, `admin_disputes`), the refund form and the latest refunds:
the same report as `GET /api/admin/metrics` (`paywire.insights.report`),
drawn as server-side SVG charts (`admin_charts`), each with a table of its figures. Anyone
else signed in gets 403 (with their own user id, to put in the setting).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from paywire.context import PaywireContext
from paywire.db.repositories import connect
from paywire.db.repositories import refunds as refund_rows
from paywire.insights.report import operator_report
from paywire.insights.windows import DAY, INTERVALS, BadWindow, Window, day_label, parse_time, window
from paywire.web.context import Context
from paywire.web.pages.admin_charts import NARROW, WIDE, bar_chart, line_chart
from paywire.web.pages.admin_disputes import REASONS
from paywire.web.pages.assets import page_file
from paywire.web.pages.errors import PageError
from paywire.web.pages.render import money, render
from paywire.web.pages.routing import page_router
from paywire.web.pages.session import SignedInPageUser
from paywire.web.refunds_api import refund_dict

ADMIN = "/admin"
STYLESHEET = "admin.css"
router = page_router()

# The seeds' thresholds: (healthy from, critical below) for rates where higher is better.
PAYMENT_SUCCESS = (0.95, 0.90)
WEBHOOK_DELIVERY = (0.995, 0.99)
# Lower is better: (healthy below, critical above).
LOGO_CHURN = (0.05, 0.10)
INVOLUNTARY_SHARE = (0.30, 0.50)


@router.get("/static/" + STYLESHEET)
def stylesheet() -> Response:
    return page_file(STYLESHEET, "text/css; charset=utf-8")


def higher_is_better(value: float | None, limits: tuple[float, float]) -> str:
    if value is None:
        return "none"
    healthy, critical = limits
    return "healthy" if value >= healthy else "critical" if value < critical else "warning"


def lower_is_better(value: float | None, limits: tuple[float, float]) -> str:
    if value is None:
        return "none"
    healthy, critical = limits
    return "healthy" if value < healthy else "critical" if value > critical else "warning"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def page_window(start: str | None, through: str | None, interval: str) -> Window:
    """The window the form asks for: `through` is the last day shown (inclusive)."""
    try:
        first = parse_time(start, "from")
        last = parse_time(through, "through")
        return window(first, last + DAY if last is not None else None, interval, now=int(time.time()))
    except BadWindow as exc:
        raise PageError(400, "Those dates cannot be shown", str(exc).replace("to must", "through must")) from None


def charts(report: dict[str, Any], currency: str) -> dict[str, dict[str, str]]:
    """Each chart drawn wide and narrow (`admin_charts`), as `data:` URIs."""
    revenue = report["revenue"]["series"]
    labels = [p["label"] for p in revenue]
    payments = report["payments"]["series"]
    hooks = report["webhooks"]["series"]
    cash = lambda value: money(round(value), currency) if value is not None else "—"  # noqa: E731
    share = lambda value: percent(value) if value is not None else "—"  # noqa: E731
    count = lambda value: str(int(value)) if value is not None else "—"  # noqa: E731
    movements = {
        "New": [p["new"] or None for p in revenue],
        "Expansion": [p["expansion"] or None for p in revenue],
        "Reactivation": [p["reactivation"] or None for p in revenue],
        "Contraction": [p["contraction"] or None for p in revenue],
        "Churn": [p["churn"] or None for p in revenue],
    }
    churn = {
        "Voluntary": [p["voluntary_churn"] or None for p in revenue],
        "Involuntary": [p["involuntary_churn"] or None for p in revenue],
    }
    webhooks = {
        "Applied": [p["applied"] or None for p in hooks],
        "Failed": [p["failed"] or None for p in hooks],
        "Dead": [p["dead"] or None for p in hooks],
    }
    drawn: dict[str, dict[str, str]] = {}
    for name, size in (("wide", WIDE), ("narrow", NARROW)):
        drawn.setdefault("mrr", {})[name] = line_chart(labels, {"MRR": [p["mrr"] for p in revenue]}, cash, size=size)
        drawn.setdefault("movements", {})[name] = bar_chart(labels, movements, cash, stacked=True, size=size)
        drawn.setdefault("churn", {})[name] = bar_chart(labels, churn, cash, stacked=True, size=size)
        drawn.setdefault("payments", {})[name] = line_chart(
            [p["label"] for p in payments],
            {"Payment success": [p["success_rate"] for p in payments]},
            share,
            value_range=(0.0, 1.0),
            size=size,
        )
        drawn.setdefault("webhooks", {})[name] = bar_chart(
            [p["label"] for p in hooks], webhooks, count, stacked=True, size=size
        )
    return drawn


def dashboard(context: PaywireContext, found: Window) -> dict[str, Any]:
    with context.sessions() as session:
        report = operator_report(session, found)
        recent = [refund_dict(row) for row in refund_rows.recent(session, 20)]
        # A dispute on a sale of a seller's (a destination charge: the platform pays it).
        sold_by = {
            dispute.id: seller.display_name or seller.email or seller.user_id
            for dispute, seller in connect.disputes_with_sellers(session)
            if seller is not None
        }
    currency = (report["currencies"] or [context.catalog.currency])[0]
    revenue = report["revenue"]
    churn = revenue["churn"]
    return {
        "report": report,
        "sold_by": sold_by,
        "refunds": recent,
        "refund_reasons": REASONS,
        "currency": currency,
        "charts": charts(report, currency),
        "health": {
            "payments": higher_is_better(report["payments"]["success_rate"], PAYMENT_SUCCESS),
            "webhooks": higher_is_better(report["webhooks"]["delivery_rate"], WEBHOOK_DELIVERY),
            "churn": lower_is_better(churn["logo_churn_rate"], LOGO_CHURN),
            "involuntary": lower_is_better(churn["involuntary_share"], INVOLUNTARY_SHARE),
        },
    }


@router.get(ADMIN)
async def admin(
    request: Request,
    user: SignedInPageUser,
    context: Context,
    interval: str = "day",
) -> HTMLResponse:
    if user.user_id not in context.settings.admin_users:
        raise PageError(
            403,
            "Admins only",
            f"This dashboard is for the users listed in PAYWIRE_ADMIN_USERS. You are signed in as {user.user_id}.",
        )
    found = page_window(request.query_params.get("from"), request.query_params.get("through"), interval)
    values = await run_in_threadpool(dashboard, context, found)
    return render(
        request,
        "admin.html",
        title="Dashboard",
        active="admin",
        window=found,
        intervals=INTERVALS,
        first_day=day_label(found.start),
        last_day=day_label(found.end - 1),
        percent=percent,
        **values,
    )
