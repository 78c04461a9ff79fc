"""`paywire clock advance --user <id> --by 31d | --to <date>`: time travel in test mode.

Moves the user's own Stripe test clock (`PAYWIRE_TEST_CLOCKS=true` gives each new customer
one), waits until Stripe's clock is ready and the worker has caught up, and prints what
happened: events, invoices and their attempts, subscription states, mails. Refused with a
live key.
"""

from __future__ import annotations

import click

from paywire.cli.common import reports_config_errors, settings
from paywire.db.engine import make_engine, make_session_factory
from paywire.stripe import StripeGateway
from paywire.timetravel import ClockRefused, advance, parse_moment, parse_span


@click.group()
def clock() -> None:
    """Time travel for a user's Stripe test clock (test mode only)."""


@clock.command("advance")
@click.option("--user", "user_id", required=True, help="the user whose clock moves")
@click.option("--by", "by", default=None, help="how far: 31d, 12h, 2w, 90m")
@click.option("--to", "to", default=None, help="until: 2027-01-15, 2027-01-15T10:00Z or Unix seconds")
@click.option("--timeout", default=180.0, show_default=True, help="seconds to wait for Stripe and the worker")
@reports_config_errors
def advance_command(user_id: str, by: str | None, to: str | None, timeout: float) -> None:
    """Advance USER's test clock and print what happened."""
    found = settings()
    if (by is None) == (to is None):
        raise click.UsageError("say either --by (31d) or --to (a date)")
    if found.is_live_key:
        raise click.ClickException("time travel is for test mode only: STRIPE_SECRET_KEY is a live key")
    engine = make_engine(found.database_url)
    try:
        travel = advance(
            found,
            make_session_factory(engine),
            StripeGateway.from_settings(found),
            user_id=user_id,
            by=parse_span(by) if by else None,
            to=parse_moment(to) if to else None,
            timeout=timeout,
        )
    except ClockRefused as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
    click.echo("\n".join(travel.lines()))
