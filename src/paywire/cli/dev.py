"""`paywire dev`: the whole thing on one machine, for a newcomer's first command.

It starts stripesim as a child process (the only paywire code that does), keeps its
state and the dev database under `var/` so a restart finds everything again, pushes the
catalog, registers (or reuses) the webhook endpoint and runs the service with its worker.
Ctrl-C stops the service, then stripesim.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click
import httpx

from paywire.config import ConfigError, Settings, load_settings

# stripesim accepts any sk_test_ key; this one is public and means "local dev".
DEV_STRIPE_KEY = "sk_test_paywire_dev_local_only"
WEBHOOK_PATH = "/webhooks/stripe"
WEBHOOK_EVENTS = ["*"]


@dataclass
class Stripesim:
    """stripesim running as our child process."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)  # its own session: see start
            self.process.wait(timeout)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)


def start_stripesim(port: int, var_dir: Path, timeout: float = 30.0) -> Stripesim:
    url = f"http://127.0.0.1:{port}"
    if _answers(f"{url}/_sim/health"):
        raise ConfigError(
            "--stripesim-port",
            f"something already listens on {url}; stop it or pick another port",
        )
    log_path = var_dir / "stripesim.log"
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child, closed by the OS
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stripesim.cli",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--state-file",
            str(var_dir / "stripesim-state.json"),
            "--log-level",
            "warning",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        # Its own session: Ctrl-C reaches paywire, which then stops stripesim in order.
        start_new_session=True,
    )
    log.close()
    sim = Stripesim(url, process, log_path)
    deadline = time.monotonic() + timeout
    while not _answers(f"{url}/_sim/health"):
        if process.poll() is not None or time.monotonic() > deadline:
            sim.stop()
            raise ConfigError("stripesim", f"did not start; see {log_path}")
        time.sleep(0.1)
    return sim


def _answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=1.0, trust_env=False)
    except httpx.HTTPError:
        return False
    return True


def dev_settings(port: int, sim_url: str, var_dir: Path, webhook_secret: str | None) -> Settings:
    """The dev configuration: always stripesim and a test key, never live Stripe."""
    values: dict[str, object] = {
        "STRIPE_SECRET_KEY": DEV_STRIPE_KEY,
        "STRIPE_API_BASE": sim_url,
        "DATABASE_URL": f"sqlite:///{(var_dir / 'paywire-dev.sqlite3').resolve()}",
        "APP_URL": f"http://127.0.0.1:{port}",
        "PAYWIRE_DEV": True,
        "PAYWIRE_AUTH_SECRET": "",
    }
    if webhook_secret:
        values["STRIPE_WEBHOOK_SECRET"] = webhook_secret
    return load_settings(**values)


def ensure_webhook_endpoint(settings: Settings, var_dir: Path) -> str:
    """The signing secret of the endpoint pointing at this service: the remembered one
    if stripesim still has it (its secret is shown only at creation), else a new one."""
    from paywire.stripe import StripeGateway
    from paywire.stripe import idempotency as keys

    gateway = StripeGateway.from_settings(settings)
    url = settings.app_link(WEBHOOK_PATH)
    remembered_path = var_dir / "dev-webhook-endpoint.json"
    remembered: dict[str, str] = {}
    if remembered_path.exists():
        remembered = json.loads(remembered_path.read_text())
    existing = gateway.list_webhook_endpoints()
    for endpoint in existing:
        if endpoint["id"] == remembered.get("id") and endpoint["url"] == url:
            return remembered["secret"]
    for endpoint in existing:
        if endpoint["url"] == url:  # a previous run's endpoint whose secret we lost
            gateway.delete_webhook_endpoint(endpoint["id"])
    created = gateway.create_webhook_endpoint(
        url=url,
        events=WEBHOOK_EVENTS,
        description="paywire dev",
        # A fresh key: a replay of an endpoint deleted above would bring back a dead secret.
        idempotency_key=keys.webhook_endpoint(f"{url}:{time.time_ns()}"),
    )
    # The signing secret is for this user's eyes only.
    descriptor = os.open(remembered_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as remembered_file:
        remembered_file.write(json.dumps({"id": created["id"], "secret": created["secret"]}))
    os.chmod(remembered_path, 0o600)
    return str(created["secret"])


def run_dev(*, port: int, stripesim_port: int, var_dir: Path) -> None:
    from paywire.catalog import load_catalog
    from paywire.catalog.sync import push
    from paywire.db.migrate import upgrade_to_head
    from paywire.service import serve
    from paywire.stripe import StripeGateway

    var_dir.mkdir(parents=True, exist_ok=True)
    click.echo(f"paywire dev: starting stripesim on 127.0.0.1:{stripesim_port} …")
    sim = start_stripesim(stripesim_port, var_dir)
    try:
        settings = dev_settings(port, sim.url, var_dir, None)
        upgrade_to_head(settings.database_url)
        changes = push(load_catalog(settings.catalog_path), StripeGateway.from_settings(settings))
        pushed = sum(1 for c in changes if c.action != "unchanged")
        secret = ensure_webhook_endpoint(settings, var_dir)
        settings = dev_settings(port, sim.url, var_dir, secret)

        def announce() -> None:
            click.echo(
                "\n".join(
                    [
                        "",
                        f"paywire dev is running: open {settings.app_link('/pricing')}  (Ctrl-C stops everything)",
                        f"  pricing page  {settings.app_link('/pricing')}  (demo sign-in: any email)",
                        f"  billing API   {settings.app_url}/api/billing",
                        f"  API docs      {settings.app_url}/docs",
                        f"  webhooks      {settings.app_link(WEBHOOK_PATH)}",
                        f"  health        {settings.app_url}/readyz",
                        f"  stripesim     {sim.url}  (log: {sim.log_path})",
                        f"  database      {settings.database_url_for_logs}",
                        f"  catalog       {len(changes)} products/prices, {pushed} changed",
                        "  test cards    4242 4242 4242 4242 pays, 4000 0000 0000 0002 declines",
                        "",
                    ]
                )
            )

        serve(settings, host="127.0.0.1", port=port, with_worker=True, on_started=announce)
    except KeyboardInterrupt:
        pass
    finally:
        click.echo("paywire dev: stopping stripesim …")
        sim.stop()
        click.echo("paywire dev: stopped")
