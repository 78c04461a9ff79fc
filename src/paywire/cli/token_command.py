"""`paywire token <user-id>`: a bearer token for calling the API by hand (curl, a script),
signed with the configured PAYWIRE_AUTH_SECRET (the public dev secret under `paywire dev`).

Your app signs its users' tokens itself; this is for trying the API and for operators.
"""

from __future__ import annotations

import re

import click

from paywire.cli.common import reports_config_errors, settings
from paywire.config import require_auth_secret
from paywire.web.auth import issue_token, valid_user_id

TTL = re.compile(r"^(\d+)([smhd]?)$")
UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_TTL_SECONDS = 30 * 86400


def parse_ttl(text: str) -> int:
    """Seconds from `90`, `90s`, `15m`, `1h` or `7d`."""
    found = TTL.match(text.strip())
    if not found:
        raise click.BadParameter("use seconds, or a number with s, m, h or d (e.g. 1h)", param_hint="--ttl")
    seconds = int(found.group(1)) * UNIT_SECONDS[found.group(2)]
    if not 1 <= seconds <= MAX_TTL_SECONDS:
        raise click.BadParameter("must be between 1 second and 30 days", param_hint="--ttl")
    return seconds


@click.command("token")
@click.argument("user_id")
@click.option("--email", help="the email claim (Checkout and mails use it)")
@click.option("--ttl", default="1h", show_default=True, help="how long it is valid: 3600, 30m, 1h, 7d")
@reports_config_errors
def token(user_id: str, email: str | None, ttl: str) -> None:
    """Print a bearer token for USER_ID, for `Authorization: Bearer …`."""
    if not valid_user_id(user_id):
        raise click.BadParameter("1-200 characters, no control characters", param_hint="USER_ID")
    seconds = parse_ttl(ttl)
    click.echo(issue_token(require_auth_secret(settings()), user_id, email, seconds))
