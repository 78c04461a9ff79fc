"""`paywire serve | worker | migrate | catalog push|check | dev`.

Every command reads the configuration from the environment (and `.env`), and refuses to
start with a message naming the setting when something is missing or malformed.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from paywire.cli import events_commands
from paywire.config import ConfigError, Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")


def reports_config_errors(command: F) -> F:
    """Turn a `ConfigError` into one clear line and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ConfigError as exc:
            click.echo(f"paywire: cannot start: {exc.setting}: {exc.message}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


def _settings() -> Settings:
    settings = load_settings()
    _configure_logging(settings.log_level)
    return settings


@click.group()
@click.version_option(package_name="paywire")
def main() -> None:
    """paywire: Stripe billing for your SaaS."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--no-worker", is_flag=True, help="Serve the API only (also PAYWIRE_WORKER_ENABLED=false); run `paywire worker`."
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Server processes sharing the port (the events worker then always runs as its own process).",
)
@reports_config_errors
def serve(host: str, port: int, no_worker: bool, workers: int) -> None:
    """The API, the webhook receiver and (by default) the events worker."""
    from paywire.service import serve as run

    settings = _settings()
    processes = f", {workers} server processes" if workers > 1 else ""
    click.echo(f"paywire serving on http://{host}:{port} ({settings.database_url_for_logs}{processes})")
    run(settings, host=host, port=port, with_worker=False if no_worker else None, workers=workers)


@main.command()
@reports_config_errors
def worker() -> None:
    """Process stored webhook events until interrupted."""
    from paywire.service import run_worker_alone

    run_worker_alone(_settings())


@main.command()
@reports_config_errors
def migrate() -> None:
    """Bring the database to the current schema."""
    from paywire.config import require_reachable_database
    from paywire.db.migrate import upgrade_to_head

    settings = _settings()
    require_reachable_database(settings)
    upgrade_to_head(settings.database_url)
    click.echo(f"paywire: {settings.database_url_for_logs} is at the current schema")


@main.group()
def catalog() -> None:
    """Keep Stripe's products and prices in line with the catalog."""


def _catalog_and_gateway() -> tuple[Any, Any]:
    from paywire.catalog import load_catalog
    from paywire.stripe import StripeGateway

    settings = _settings()
    return load_catalog(settings.catalog_path), StripeGateway.from_settings(settings)


@catalog.command("push")
@reports_config_errors
def catalog_push() -> None:
    """Create or update products and prices in Stripe (idempotent)."""
    from paywire.catalog.sync import push
    from paywire.stripe import StripeError

    wanted, gateway = _catalog_and_gateway()
    try:
        changes = push(wanted, gateway)
    except StripeError as exc:
        click.echo(f"paywire: catalog push failed: {exc.message}", err=True)
        sys.exit(1)
    for change in changes:
        click.echo(str(change))
    changed = sum(1 for c in changes if c.action != "unchanged")
    click.echo(f"{changed} change(s), {len(changes) - changed} already in line")


@catalog.command("check")
@reports_config_errors
def catalog_check() -> None:
    """Report drift between the catalog and Stripe; exit 1 if there is any."""
    from paywire.catalog.sync import check
    from paywire.stripe import StripeError

    wanted, gateway = _catalog_and_gateway()
    try:
        drift = check(wanted, gateway)
    except StripeError as exc:
        click.echo(f"paywire: catalog check failed: {exc.message}", err=True)
        sys.exit(1)
    for item in drift:
        click.echo(str(item))
    if drift:
        click.echo(f"{len(drift)} difference(s): run `paywire catalog push`", err=True)
        sys.exit(1)
    click.echo("catalog and Stripe are in line")


@main.command()
@click.option("--port", default=8000, show_default=True, type=int, help="paywire's port")
@click.option("--stripesim-port", default=12111, show_default=True, type=int)
@click.option(
    "--var-dir",
    default="var",
    show_default=True,
    type=click.Path(file_okay=False),
    help="where the dev database and stripesim's state live",
)
@reports_config_errors
def dev(port: int, stripesim_port: int, var_dir: str) -> None:
    """Everything on this machine: stripesim, the catalog, the webhook endpoint, the
    service and the worker on a SQLite file. Ctrl-C stops it all."""
    from pathlib import Path

    from paywire.cli.dev import run_dev

    _configure_logging("WARNING")
    run_dev(port=port, stripesim_port=stripesim_port, var_dir=Path(var_dir))


events_commands.register(main)

if __name__ == "__main__":
    main()
