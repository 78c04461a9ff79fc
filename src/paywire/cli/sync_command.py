"""`paywire sync`: compare the mirror with Stripe and repair it."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import click

from paywire.catalog import load_catalog
from paywire.cli.common import (
    collect_garbage_for_batches,
    operating_settings,
    reports_config_errors,
    session_factory,
)
from paywire.reconcile.adoption import Adoption, Users, UsersFileInvalid
from paywire.reconcile.drift import Drift
from paywire.reconcile.progress import ProgressBar
from paywire.reconcile.resources import RESOURCES, SyncContext
from paywire.reconcile.sync import SyncBusy, SyncInterrupted, sync_mirror
from paywire.stripe import StripeError, StripeGateway

EXIT_INTERRUPTED = 130


@click.command("sync")
@click.option("--dry-run", is_flag=True, help="report the drift, change nothing")
@click.option(
    "--only",
    "only",
    multiple=True,
    type=click.Choice(list(RESOURCES)),
    help="repeatable [default: all]",
)
@click.option("--page-size", default=100, show_default=True, type=click.IntRange(1, 100))
@click.option("--progress/--no-progress", default=None, help="[default: when stderr is a terminal]")
@click.option(
    "--adopt",
    is_flag=True,
    help="link Stripe customers to the users their metadata.user_id names (an existing Stripe account)",
)
@click.option("--adopt-by-email", is_flag=True, help="with --adopt: else to the one user with the customer's email")
@click.option(
    "--users",
    "users_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="with --adopt: the product's users, a CSV of user_id,email (needed by --adopt-by-email)",
)
@reports_config_errors
def sync(
    dry_run: bool,
    only: tuple[str, ...],
    page_size: int,
    progress: bool | None,
    adopt: bool,
    adopt_by_email: bool,
    users_file: Path | None,
) -> None:
    """Compare the mirror with Stripe's customers, subscriptions, invoices and sellers' connected
    accounts (their transfers and payouts too), and repair it.

    Interrupted (Ctrl-C, an outage)? Run it again: it continues after the last checkpoint.
    Exit status 1 with --dry-run when anything would be repaired."""
    if (adopt_by_email or users_file) and not adopt:
        raise click.UsageError("--adopt-by-email and --users go with --adopt")
    if adopt_by_email and users_file is None:
        raise click.UsageError("--adopt-by-email needs --users FILE (the product's users and their emails)")
    try:
        adoption = Adoption(adopt_by_email, Users.from_csv(users_file) if users_file else None) if adopt else None
    except UsersFileInvalid as exc:
        raise click.BadParameter(str(exc), param_hint="--users") from None
    settings = operating_settings(stripe=True)
    ctx = SyncContext(
        session_factory(settings),
        StripeGateway.from_settings(settings),
        load_catalog(settings.catalog_path),
        settings,
        adoption=adoption,
    )
    stream = click.get_text_stream("stderr")
    bar = ProgressBar(stream, enabled=stream.isatty() if progress is None else progress)
    selected = [name for name in RESOURCES if not only or name in only]
    stop = threading.Event()

    def interrupt(signum: int, frame: object) -> None:
        """Ctrl-C or SIGTERM: stop at the next checkpoint (the page being written is finished);
        a second one stops at once."""
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    collect_garbage_for_batches()
    try:
        report = sync_mirror(
            ctx,
            resources=selected,
            dry_run=dry_run,
            page_size=page_size,
            progress=bar,
            # Not click.echo: it flushes every line, a write per difference when 100,000 go to a
            # pipe (a terminal's stdout is still line-buffered).
            on_drift=_print,
            stop=stop,
        )
    except SyncBusy as exc:
        click.echo(f"paywire: {exc}", err=True)
        sys.exit(1)
    except SyncInterrupted as exc:
        bar.clear()
        sys.stdout.flush()
        for part in exc.report.resources:
            click.echo(part.summary())
        if isinstance(exc.cause, KeyboardInterrupt):
            click.echo("interrupted: run `paywire sync` again to continue after the last checkpoint", err=True)
            sys.exit(EXIT_INTERRUPTED)
        if isinstance(exc.cause, StripeError):
            click.echo(f"paywire: sync stopped: Stripe failed: {exc.cause.message}; run it again to continue", err=True)
            sys.exit(1)
        raise exc.cause from None
    sys.stdout.flush()
    for part in report.resources:
        click.echo(part.summary())
    # "kept" differences are reported, never changed by sync (a customer link), so they do
    # not make a dry run fail forever.
    drifted, to_repair = report.drifted, report.to_repair
    if dry_run:
        click.echo(f"dry run: {drifted} difference(s), {to_repair} to repair; nothing changed")
        sys.exit(1 if to_repair else 0)
    click.echo(f"mirror in line with Stripe: {to_repair} difference(s) repaired, {drifted - to_repair} reported")


def _print(drift: Drift) -> None:
    sys.stdout.write(f"{drift}\n")
