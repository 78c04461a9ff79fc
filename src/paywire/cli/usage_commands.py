"""`paywire usage send | status`: the usage sender alone, and what the usage table holds."""

from __future__ import annotations

import signal
import threading
from typing import Any

import click

from paywire.cli.common import operating_settings, reports_config_errors, session_factory
from paywire.cli.table import short, table
from paywire.usage import store
from paywire.usage.sender import build_sender


@click.group("usage")
def usage() -> None:
    """Usage-based billing: send recorded usage to Stripe, see where it stands."""


@usage.command("send")
@reports_config_errors
def send() -> None:
    """Send recorded usage to Stripe until interrupted (the sender `paywire worker` and
    `paywire serve` also run, unless PAYWIRE_USAGE_SENDER=false)."""
    found = operating_settings(stripe=True)
    stop = threading.Event()

    def on_signal(*_: Any) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    sender = build_sender(found)
    click.echo(f"paywire: sending usage to Stripe ({found.database_url_for_logs})", err=True)
    sender.run(stop)


@usage.command("status")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000), help="error reports shown")
@reports_config_errors
def status(limit: int) -> None:
    """Usage events by state, and Stripe's latest error reports (usage it refused)."""
    sessions = session_factory(operating_settings(stripe=False))
    with sessions() as session:
        depth = store.depth(session)
        oldest = store.oldest_pending(session)
        reports = store.recent_reports(session, limit)
    parts = [f"{state} {count}" for state, count in sorted(depth.items())]
    click.echo("usage events: " + (", ".join(parts) if parts else "none"))
    if oldest is not None:
        click.echo(f"oldest waiting for Stripe: recorded {oldest:%Y-%m-%d %H:%M:%S} UTC")
    rows = [
        [
            r.created,
            r.type.removeprefix("v1.billing.meter."),
            r.meter_id or "-",
            str(r.error_count),
            ", ".join(f"{n} {code}" for code, n in r.codes.items()),
            short(", ".join(sorted(r.samples)) or "-"),
        ]
        for r in reports
    ]
    if rows:
        click.echo(table(["CREATED", "REPORT", "METER", "ERRORS", "CODES", "EVENTS NAMED"], rows))
    click.echo(f"{len(rows)} error report(s) from Stripe shown")
