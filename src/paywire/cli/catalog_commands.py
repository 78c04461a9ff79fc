"""`paywire catalog push | check`: keep Stripe's products and prices in line with the catalog."""

from __future__ import annotations

import sys

import click

from paywire.catalog import Catalog, load_catalog
from paywire.catalog.sync import check, push
from paywire.cli.common import reports_config_errors, settings
from paywire.stripe import StripeError, StripeGateway


@click.group()
def catalog() -> None:
    """Keep Stripe's products and prices in line with the catalog."""


def _catalog_and_gateway() -> tuple[Catalog, StripeGateway]:
    found = settings()
    return load_catalog(found.catalog_path), StripeGateway.from_settings(found)


@catalog.command("push")
@reports_config_errors
def catalog_push() -> None:
    """Create or update products and prices in Stripe (idempotent)."""
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
