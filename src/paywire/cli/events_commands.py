"""`paywire events list | replay | recover` and `paywire sync`: operating the events pipeline
and the mirror by hand.

Registered on the main group by `paywire.cli.main`. This module does not import it (it is
also run as `python -m paywire.cli.main`, which would load it twice), so the few lines of
settings and error handling are its own.
"""

from __future__ import annotations

import functools
import logging
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from paywire.config import ConfigError, Settings, load_settings
from paywire.db.models import INBOX_STATES

F = TypeVar("F", bound=Callable[..., Any])
EXIT_INTERRUPTED = 130
ERROR_WIDTH = 60


def _reports_config_errors(command: F) -> F:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ConfigError as exc:
            click.echo(f"paywire: cannot start: {exc.setting}: {exc.message}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


def _settings(*, stripe: bool) -> Settings:
    from paywire.config import require_reachable_database, require_stripe_key
    from paywire.service import require_migrated

    settings = load_settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if stripe:
        require_stripe_key(settings)
    require_reachable_database(settings)
    require_migrated(settings)
    return settings


def _sessions(settings: Settings) -> Any:
    from paywire.db.engine import make_engine, make_session_factory

    return make_session_factory(make_engine(settings.database_url))


def _when(moment: datetime | int | None) -> str:
    if moment is None:
        return "-"
    if isinstance(moment, int):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _short(text: str | None, width: int = ERROR_WIDTH) -> str:
    if not text:
        return ""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


@click.group("events")
def events() -> None:
    """The inbox of Stripe events: see it, replay events, recover lost deliveries."""


@events.command("list")
@click.option("--state", "states", multiple=True, type=click.Choice(INBOX_STATES), help="repeatable")
@click.option("--type", "event_type", help="an event type, or a family like invoice.*")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@_reports_config_errors
def list_events(states: tuple[str, ...], event_type: str | None, limit: int) -> None:
    """The newest events in the inbox, with their state, attempts and last error."""
    from paywire.events import inbox
    from paywire.events.replay import find_events

    sessions = _sessions(_settings(stripe=False))
    with sessions() as session:
        found = find_events(session, states=states, event_type=event_type, limit=limit)
        depth = inbox.depth(session)
    rows = [
        [
            e.id,
            e.type,
            e.state,
            str(e.attempts),
            _when(e.received_at),
            e.object_id or "-",
            _short(e.last_error),
        ]
        for e in found
    ]
    if rows:
        click.echo(_table(["ID", "TYPE", "STATE", "ATTEMPTS", "RECEIVED (UTC)", "OBJECT", "LAST ERROR"], rows))
    click.echo(f"{len(rows)} event(s) shown; inbox: " + _depth_line(depth))


def _depth_line(depth: dict[str, int]) -> str:
    parts = [f"{state} {depth[state]}" for state in INBOX_STATES if depth.get(state)]
    return ", ".join(parts) if parts else "empty"


@events.command("replay")
@click.argument("event_ids", nargs=-1)
@click.option("--failed", is_flag=True, help="every event waiting out a backoff after a failure")
@click.option("--dead", is_flag=True, help="every dead letter (given up after the retry bound)")
@_reports_config_errors
def replay_events(event_ids: tuple[str, ...], failed: bool, dead: bool) -> None:
    """Send events back to the worker (state pending, a fresh set of attempts)."""
    from paywire.events.replay import replay, replay_state

    if not event_ids and not failed and not dead:
        raise click.UsageError("name event ids, or use --failed and/or --dead")
    sessions = _sessions(_settings(stripe=False))
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
            error = f": {_short(r.last_error)}" if r.last_error else ""
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
@_reports_config_errors
def recover(since: str | None) -> None:
    """Store every event Stripe still keeps (30 days) that the inbox lacks."""
    from paywire.events.recovery import EVENTS_KEPT_SECONDS, SinceInvalid, parse_since, recover_events
    from paywire.stripe import StripeError, StripeGateway

    try:
        start = parse_since(since) if since else None
    except SinceInvalid as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    if start is not None and start > time.time():
        raise click.BadParameter("is in the future", param_hint="--since")
    if start is not None and start < time.time() - EVENTS_KEPT_SECONDS:
        click.echo("note: Stripe keeps events for 30 days; older ones cannot be recovered", err=True)
    settings = _settings(stripe=True)
    try:
        report = recover_events(
            _sessions(settings),
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
    click.echo(f"recovered events created since {_when(report.since)} UTC: {report.summary()}")
    click.echo(f"kept cursor: {_when(report.cursor)} UTC" if report.cursor is not None else "kept cursor: none")


@click.command("sync")
@click.option("--dry-run", is_flag=True, help="report the drift, change nothing")
@click.option(
    "--only",
    "only",
    multiple=True,
    type=click.Choice(["customers", "subscriptions", "invoices"]),
    help="repeatable [default: all three]",
)
@click.option("--page-size", default=100, show_default=True, type=click.IntRange(1, 100))
@click.option("--progress/--no-progress", default=None, help="[default: when stderr is a terminal]")
@_reports_config_errors
def sync(dry_run: bool, only: tuple[str, ...], page_size: int, progress: bool | None) -> None:
    """Compare the mirror with Stripe's customers, subscriptions and invoices, and repair it.

    Interrupted (Ctrl-C, an outage)? Run it again: it continues after the last checkpoint.
    Exit status 1 with --dry-run when anything would be repaired."""
    from paywire.catalog import load_catalog
    from paywire.reconcile.progress import ProgressBar
    from paywire.reconcile.resources import RESOURCES, SyncContext
    from paywire.reconcile.sync import SyncBusy, SyncInterrupted, sync_mirror
    from paywire.stripe import StripeError, StripeGateway

    settings = _settings(stripe=True)
    ctx = SyncContext(
        _sessions(settings), StripeGateway.from_settings(settings), load_catalog(settings.catalog_path), settings
    )
    stream = click.get_text_stream("stderr")
    bar = ProgressBar(stream, enabled=stream.isatty() if progress is None else progress)
    selected = [name for name in RESOURCES if not only or name in only]
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        report = sync_mirror(
            ctx,
            resources=selected,
            dry_run=dry_run,
            page_size=page_size,
            progress=bar,
            on_drift=lambda drift: click.echo(str(drift)),
        )
    except SyncBusy as exc:
        click.echo(f"paywire: {exc}", err=True)
        sys.exit(1)
    except SyncInterrupted as exc:
        bar.clear()
        for part in exc.report.resources:
            click.echo(part.summary())
        if isinstance(exc.cause, KeyboardInterrupt):
            click.echo("interrupted: run `paywire sync` again to continue after the last checkpoint", err=True)
            sys.exit(EXIT_INTERRUPTED)
        if isinstance(exc.cause, StripeError):
            click.echo(f"paywire: sync stopped: Stripe failed: {exc.cause.message}; run it again to continue", err=True)
            sys.exit(1)
        raise exc.cause from None
    for part in report.resources:
        click.echo(part.summary())
    drifted = len(report.drift)
    # "kept" differences are reported, never changed by sync (a customer link), so they do
    # not make a dry run fail forever.
    to_repair = sum(1 for d in report.drift if not d.action.startswith("kept"))
    if dry_run:
        click.echo(f"dry run: {drifted} difference(s), {to_repair} to repair; nothing changed")
        sys.exit(1 if to_repair else 0)
    click.echo(f"mirror in line with Stripe: {to_repair} difference(s) repaired, {drifted - to_repair} reported")


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM stops a sync as Ctrl-C does: at once, with its checkpoints and lease in order."""
    raise KeyboardInterrupt


def register(main: click.Group) -> None:
    main.add_command(events)
    main.add_command(sync)
