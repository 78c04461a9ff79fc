"""`paywire`: the command group, and `serve | worker | migrate | dev`; the other commands live
in their own modules (`catalog_commands`, `events_commands`, `sync_command`).

Every command reads the configuration from the environment (and `.env`), and refuses to
start with a message naming the setting when something is missing or malformed.
"""

from __future__ import annotations

from pathlib import Path

import click

from paywire.cli.catalog_commands import catalog
from paywire.cli.clock_command import clock
from paywire.cli.common import configure_logging, reports_config_errors, settings
from paywire.cli.dev import run_dev
from paywire.cli.doctor_command import doctor
from paywire.cli.events_commands import events
from paywire.cli.metrics_command import metrics
from paywire.cli.sync_command import sync
from paywire.cli.token_command import token
from paywire.cli.usage_commands import usage
from paywire.db.engine import require_reachable_database
from paywire.db.migrate import upgrade_to_head
from paywire.service import serve as run_service
from paywire.workers import run_worker_alone


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
    found = settings()
    processes = f", {workers} server processes" if workers > 1 else ""

    def announce() -> None:
        click.echo(f"paywire serving on http://{host}:{port} ({found.database_url_for_logs}{processes})")

    run_service(
        found, host=host, port=port, with_worker=False if no_worker else None, workers=workers, on_started=announce
    )


@main.command()
@reports_config_errors
def worker() -> None:
    """Process stored webhook events until interrupted."""
    run_worker_alone(settings())


@main.command()
@reports_config_errors
def migrate() -> None:
    """Bring the database to the current schema."""
    found = settings()
    require_reachable_database(found, create=True)
    upgrade_to_head(found.database_url)
    click.echo(f"paywire: {found.database_url_for_logs} is at the current schema")


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
    configure_logging("WARNING")
    run_dev(port=port, stripesim_port=stripesim_port, var_dir=Path(var_dir))


main.add_command(catalog)
main.add_command(clock)
main.add_command(events)
main.add_command(metrics)
main.add_command(doctor)
main.add_command(sync)
main.add_command(token)
main.add_command(usage)

if __name__ == "__main__":
    main()
