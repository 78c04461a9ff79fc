"""`paywire doctor [--json]`: the health signals, the security and the go-live checklists
(`paywire.doctor`). Exit status 1 when the score is below 5 of 8 or a P0 item fails."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import httpx

from paywire.catalog import load_catalog
from paywire.cli.common import operating_settings, reports_config_errors, session_factory
from paywire.doctor.checks import Check, Diagnosis
from paywire.doctor.diagnose import Inputs, diagnose
from paywire.stripe import StripeGateway

MARKS = {"pass": "pass", "warn": "WARN", "fail": "FAIL"}


def fetch_json(url: str) -> Any:
    response = httpx.get(url, timeout=5.0, trust_env=False)
    response.raise_for_status()
    return response.json()


def lines(checks: list[Check], *, priority: bool = False) -> list[str]:
    width = max((len(c.name) for c in checks), default=0)
    found = []
    for c in checks:
        label = f"{c.priority} " if priority else ""
        found.append(f"  {MARKS[c.status]}  {label}{c.name.ljust(width)}  {c.detail}")
        if c.fix:
            found.append(f"        {' ' * len(label)}{' ' * width}  fix: {c.fix}")
    return found


def as_text(found: Diagnosis) -> str:
    verdict = "ok" if found.ok else "stop and fix"
    out = [
        f"paywire doctor: {found.mode} mode, APP_URL {found.app_url}",
        "",
        f"Health: {found.score:g}/{len(found.signals)} ({verdict}; below 5 = stop and fix)",
        *lines(found.signals),
        "",
        "Security",
        *lines(found.security),
        "",
        "Go-live checklist",
        *lines(sorted(found.go_live, key=lambda c: c.priority), priority=True),
    ]
    if found.failed_p0:
        out += ["", "P0 failing: " + ", ".join(c.name for c in found.failed_p0)]
    return "\n".join(out)


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="the report as JSON (for CI)")
@reports_config_errors
def doctor(as_json: bool) -> None:
    """Check this configuration and the Stripe account: 8 health signals scored out of 8,
    the security checklist, the go-live checklist (P0/P1/P2). Exit 1 below 5 or on a P0 failure."""
    settings = operating_settings(stripe=True)
    sessions = session_factory(settings)
    with sessions() as session:
        found = diagnose(
            Inputs(
                settings=settings,
                catalog=load_catalog(settings.catalog_path),
                gateway=StripeGateway.from_settings(settings),
                session=session,
                env_file=Path(".env"),
                fetch=fetch_json,
            )
        )
    click.echo(json.dumps(found.as_dict(), indent=2) if as_json else as_text(found))
    sys.exit(0 if found.ok else 1)
