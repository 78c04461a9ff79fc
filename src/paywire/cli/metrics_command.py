"""`paywire metrics [--from --to --interval day|month] [--format table|json|csv]`: the
operator's metrics (`paywire.insights`), as `GET /api/admin/metrics` answers them."""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from typing import Any

import click

from paywire.cli.common import operating_settings, reports_config_errors, session_factory
from paywire.cli.table import table, when
from paywire.insights.report import operator_report
from paywire.insights.windows import INTERVALS, BadWindow, parse_time, window
from paywire.revenue.movements import KINDS

SERIES_COLUMNS = ["label", "mrr", "subscribers", *KINDS, "net_new", "churned_customers"]


def money(amount: int | float | None, currency: str) -> str:
    """Smallest units as a decimal amount (`5733, usd` → `57.33 USD`)."""
    if amount is None:
        return "-"
    return f"{amount / 100:,.2f} {currency.upper()}".strip()


def signed(amount: int) -> str:
    return f"{amount / 100:+,.2f}"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def as_table(found: dict[str, Any]) -> str:
    currency = (found["currencies"] or [""])[0]
    revenue, churn = found["revenue"], found["revenue"]["churn"]
    payments, dunning, hooks = found["payments"], found["payments"]["dunning"], found["webhooks"]
    trials = found["trials"]
    span = found["window"]
    moves = "  ".join(f"{kind} {signed(revenue['movements'][kind])}" for kind in KINDS)
    lines = [
        f"paywire metrics {when(span['from'])} to {when(span['to'])} UTC, by {span['interval']}",
        f"MRR {money(revenue['mrr'], currency)}   ARR {money(revenue['arr'], currency)}   "
        f"active subscribers {revenue['active_subscribers']}   ARPU {money(revenue['arpu'], currency)}   "
        f"MRR growth {percent(revenue['mrr_growth'])}",
        f"movements: {moves}  net new {signed(revenue['net_new_mrr'])}",
        f"churn: {churn['churned_customers']} customer(s); logo {percent(churn['logo_churn_rate'])}, "
        f"gross revenue {percent(churn['gross_revenue_churn_rate'])}, "
        f"net revenue {percent(churn['net_revenue_churn_rate'])}, "
        f"involuntary share {percent(churn['involuntary_share'])}",
        f"trials: {trials['ended']} ended, {trials['converted']} converted ({percent(trials['conversion_rate'])})",
        f"payments: {payments['succeeded']} of {payments['attempts']} attempts succeeded "
        f"({percent(payments['success_rate'])}); dunning: {dunning['failed_invoices']} failed invoice(s), "
        f"{dunning['recovered']} recovered, {dunning['lost']} lost, {dunning['in_dunning']} retrying "
        f"(recovery {percent(dunning['recovery_rate'])})",
        f"webhooks: {hooks['received']} received, {hooks['processed']} processed, {hooks['failed']} failed, "
        f"{hooks['dead']} dead, {hooks['pending']} pending; delivery {percent(hooks['delivery_rate'])}; "
        f"lag p50 {seconds(hooks['lag_seconds']['p50'])}, p95 {seconds(hooks['lag_seconds']['p95'])}",
        f"disputes: {found['disputes']['open']} open",
        "",
    ]
    rows = [
        [p["label"], money(p["mrr"], ""), str(p["subscribers"])]
        + [signed(p[kind]) if p[kind] else "" for kind in (*KINDS, "net_new")]
        for p in revenue["series"]
    ]
    lines.append(table([span["interval"], "MRR", "subscribers", *KINDS, "net new"], rows))
    return "\n".join(lines)


def as_csv(found: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SERIES_COLUMNS)
    for point in found["revenue"]["series"]:
        writer.writerow([point[column] for column in SERIES_COLUMNS])
    return out.getvalue().rstrip("\n")


@click.command("metrics")
@click.option("--from", "start", help="a date (2026-03-01), a time (2026-03-01T12:00Z) or Unix seconds")
@click.option("--to", "end", help="the same [default: now]")
@click.option("--interval", default="day", show_default=True, type=click.Choice(INTERVALS))
@click.option("--format", "output", default="table", show_default=True, type=click.Choice(["table", "json", "csv"]))
@reports_config_errors
def metrics(start: str | None, end: str | None, interval: str, output: str) -> None:
    """MRR, its movements, churn, trials, payments, dunning, webhook health and disputes
    (defaults: the last 30 days by day, or 12 months by month). CSV: the series."""
    try:
        found_window = window(parse_time(start, "from"), parse_time(end, "to"), interval, now=int(time.time()))
    except BadWindow as exc:
        click.echo(f"paywire: --{exc.field}: {exc}", err=True)
        sys.exit(2)
    sessions = session_factory(operating_settings(stripe=False))
    with sessions() as session:
        found = operator_report(session, found_window)
    if output == "json":
        click.echo(json.dumps(found, indent=2))
    elif output == "csv":
        click.echo(as_csv(found))
    else:
        click.echo(as_table(found))
