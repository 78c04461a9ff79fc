"""`paywire events list | replay | recover`: the inbox of Stripe events, by hand."""

from __future__ import annotations

import sys
import time

import click

from paywire.cli.common import operating_settings, reports_config_errors, session_factory
from paywire.cli.table import short, table, when
from paywire.db.models import INBOX_STATES
from paywire.events import inbox
from paywire.events.recovery import EVENTS_KEPT_SECONDS, SinceInvalid, parse_since, recover_events
from paywire.events.replay import find_events, replay, replay_state
from paywire.stripe import Priority, StripeError, StripeGateway, at_priority

EXIT_INTERRUPTED = 130


@click.group("events")
def events() -> None:
    """The inbox of Stripe events: see it, replay events, recover lost deliveries."""


@events.command("list")
@click.option("--state", "states", multiple=True, type=click.Choice(INBOX_STATES), help="repeatable")
@click.option("--type", "event_type", help="an event type, or a family like invoice.*")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@reports_config_errors
def list_events(states: tuple[str, ...], event_type: str | None, limit: int) -> None:
    """The newest events in the inbox, with their state, attempts and last error."""
    sessions = session_factory(operating_settings(stripe=False))
    with sessions() as session:
        found = find_events(session, states=states, event_type=event_type, limit=limit)
        depth = inbox.depth(session)
    rows = [
        [
            e.id,
            e.type,
            e.state,
            str(e.attempts),
            when(e.received_at),
            e.object_id or "-",
            short(e.last_error),
        ]
        for e in found
    ]
    if rows:
        click.echo(table(["ID", "TYPE", "STATE", "ATTEMPTS", "RECEIVED (UTC)", "OBJECT", "LAST ERROR"], rows))
    click.echo(f"{len(rows)} event(s) shown; inbox: " + _depth_line(depth))


def _depth_line(depth: dict[str, int]) -> str:
    parts = [f"{state} {depth[state]}" for state in INBOX_STATES if depth.get(state)]
    return ", ".join(parts) if parts else "empty"


@events.command("replay")
@click.argument("event_ids", nargs=-1)
@click.option("--failed", is_flag=True, help="every event waiting out a backoff after a failure")
@click.option("--dead", is_flag=True, help="every dead letter (given up after the retry bound)")
@reports_config_errors
def replay_events(event_ids: tuple[str, ...], failed: bool, dead: bool) -> None:
    """Send events back to the worker (state pending, a fresh set of attempts)."""
    if not event_ids and not failed and not dead:
        raise click.UsageError("name event ids, or use --failed and/or --dead")
    sessions = session_factory(operating_settings(stripe=False))
    results = []
    refused = 0
    with sessions() as session:
        if event_ids:
            results += replay(session, event_ids)
        for state, wanted in (("failed", failed), ("dead", dead)):
            if wanted:
                results += replay_state(session, state)
    for r in results:
        if r.reset:
            error = f": {short(r.last_error)}" if r.last_error else ""
            click.echo(f"reset {r.id} {r.type} (was {r.was}, {r.attempts} attempt(s)){error}")
        else:
            refused += 1
            click.echo(f"not reset {r.id}: {r.why_not}", err=True)
    reset = sum(1 for r in results if r.reset)
    click.echo(f"{reset} event(s) reset to pending; the worker processes them next")
    if refused:
        sys.exit(1)


@events.command("recover")
@click.option(
    "--since",
    help="ISO time (UTC unless a zone is given), unix seconds, or an age like 3d, 12h, 1d6h [default: the kept cursor]",
)
@reports_config_errors
def recover(since: str | None) -> None:
    """Store every event Stripe still keeps (30 days) that the inbox lacks."""
    try:
        start = parse_since(since) if since else None
    except SinceInvalid as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    if start is not None and start > time.time():
        raise click.BadParameter("is in the future", param_hint="--since")
    if start is not None and start < time.time() - EVENTS_KEPT_SECONDS:
        click.echo("note: Stripe keeps events for 30 days; older ones cannot be recovered", err=True)
    settings = operating_settings(stripe=True)
    try:
        # A scan is background work: people waiting on the deployment's Stripe budget go first.
        with at_priority(Priority.BACKGROUND):
            report = recover_events(
                session_factory(settings),
                StripeGateway.from_settings(settings),
                since=start,
                expected_livemode=settings.livemode,
                overlap=settings.recovery_overlap,
                lookback=settings.recovery_lookback,
            )
    except StripeError as exc:
        click.echo(f"paywire: recovery failed: {exc.message}; events stored so far are kept", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted: events stored so far are kept (and the cursor moved as far as done)", err=True)
        sys.exit(EXIT_INTERRUPTED)
    click.echo(f"recovered events created since {when(report.since)} UTC: {report.summary()}")
    click.echo(f"kept cursor: {when(report.cursor)} UTC" if report.cursor is not None else "kept cursor: none")
