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

from paywire.catalog import load_catalog
from paywire.catalog.sync import push
from paywire.config import DEV_ENV_FILE, ConfigError, Settings, load_settings
from paywire.db.migrate import upgrade_to_head
from paywire.service import serve
from paywire.stripe import StripeGateway
from paywire.stripe import idempotency as keys

# stripesim accepts any sk_test_ key; this one is public and means "local dev".
DEV_STRIPE_KEY = "sk_test_paywire_dev_local_only"
WEBHOOK_PATH = "/webhooks/stripe"
WEBHOOK_EVENTS = ["*"]
# The Connect endpoint (events of sellers' connected accounts) reaches the same receiver; its own
# URL tells the two apart in Stripe's list.
CONNECT_WEBHOOK_PATH = WEBHOOK_PATH + "?connect=1"
# The marketplace example moves money at a demo's pace: a sale's funds are available to the
# seller after 10 s (Stripe: days), paid out 10 s later, and the payout arrives 10 s after that.
DEV_CONNECT_TIMINGS = {
    "connect_available_after_s": "10",
    "connect_payout_after_s": "10",
    "connect_payout_arrives_after_s": "10",
}


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


def dev_settings(
    port: int, sim_url: str, var_dir: Path, webhook_secret: str | None, connect_secret: str | None = None
) -> Settings:
    """The dev configuration: always stripesim and a test key, never live Stripe."""
    values: dict[str, object] = {
        "STRIPE_SECRET_KEY": DEV_STRIPE_KEY,
        "STRIPE_API_BASE": sim_url,
        "DATABASE_URL": f"sqlite:///{(var_dir / 'paywire-dev.sqlite3').resolve()}",
        "APP_URL": f"http://127.0.0.1:{port}",
        "PAYWIRE_DEV": True,
        "PAYWIRE_AUTH_SECRET": "",
        # Time travel: each new customer on a test clock of its own (`paywire clock advance`).
        "PAYWIRE_TEST_CLOCKS": True,
        "PAYWIRE_DEV_MAIL_DIR": str((var_dir / "dev-mail").resolve()),
    }
    if not os.environ.get("PAYWIRE_EMAIL_BACKEND"):
        values["PAYWIRE_EMAIL_BACKEND"] = "dev"  # the dev inbox, /dev/mail
    if webhook_secret:
        values["STRIPE_WEBHOOK_SECRET"] = webhook_secret
    if connect_secret:
        values["STRIPE_CONNECT_WEBHOOK_SECRET"] = connect_secret
    return load_settings(**values)


def ensure_webhook_endpoint(settings: Settings, var_dir: Path, *, connect: bool = False) -> str:
    """The signing secret of the endpoint pointing at this service: the remembered one
    if stripesim still has it (its secret is shown only at creation), else a new one.
    `connect`: the Connect endpoint (events of sellers' connected accounts)."""
    gateway = StripeGateway.from_settings(settings)
    url = settings.app_link(CONNECT_WEBHOOK_PATH if connect else WEBHOOK_PATH)
    remembered_path = var_dir / ("dev-connect-webhook-endpoint.json" if connect else "dev-webhook-endpoint.json")
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
        description="paywire dev (Connect)" if connect else "paywire dev",
        connect=connect,
        # A fresh key: a replay of an endpoint deleted above would bring back a dead secret.
        idempotency_key=keys.webhook_endpoint(f"{url}:{time.time_ns()}"),
    )
    # The signing secret is for this user's eyes only.
    descriptor = os.open(remembered_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as remembered_file:
        remembered_file.write(json.dumps({"id": created["id"], "secret": created["secret"]}))
    os.chmod(remembered_path, 0o600)
    return str(created["secret"])


def name_the_business(sim_url: str, app_url: str) -> None:
    """Give stripesim's account the public details Stripe's Dashboard would (its API cannot):
    the hosted pages then name the business and the invoice page links back to the app."""
    details = {"business_profile[name]": "paywire dev", "business_profile[url]": app_url}
    answer = httpx.post(f"{sim_url}/_sim/account", data=details, timeout=10, trust_env=False)
    if answer.status_code >= 400:
        raise ConfigError("stripesim", f"refused the account's public details: {answer.text}")


def connect_at_demo_pace(sim_url: str) -> None:
    """stripesim's Connect timings for the marketplace example (`DEV_CONNECT_TIMINGS`)."""
    answer = httpx.post(f"{sim_url}/_sim/config", data=DEV_CONNECT_TIMINGS, timeout=10, trust_env=False)
    if answer.status_code >= 400:
        raise ConfigError("stripesim", f"refused the Connect timings: {answer.text}")


def write_dev_env(settings: Settings, var_dir: Path) -> Path:
    """Leave the dev stack's settings where every other command run in this folder finds
    them (`paywire.config.DEV_ENV_FILE`): `paywire events list`, `sync`, `catalog check` and
    `token` then talk to this stack with no environment set. Readable by this user only: it
    holds the webhook signing secret (of stripesim, but still)."""
    values = {
        "PAYWIRE_DEV": "true",
        "STRIPE_SECRET_KEY": DEV_STRIPE_KEY,
        "STRIPE_API_BASE": settings.stripe_api_base or "",
        "DATABASE_URL": settings.database_url,
        "APP_URL": settings.app_url,
        "STRIPE_WEBHOOK_SECRET": ",".join(s.get_secret_value() for s in settings.stripe_webhook_secrets or []),
        "STRIPE_CONNECT_WEBHOOK_SECRET": ",".join(
            s.get_secret_value() for s in settings.stripe_connect_webhook_secrets
        ),
        "PAYWIRE_TEST_CLOCKS": "true" if settings.test_clocks else "false",
        "PAYWIRE_EMAIL_BACKEND": settings.email_backend,
        "PAYWIRE_DEV_MAIL_DIR": str(settings.dev_mail_dir),
    }
    path = var_dir / DEV_ENV_FILE.name
    lines = ["# Written by `paywire dev`: the dev stack's settings, read by paywire's commands run here."]
    lines += [f"{name}={value}" for name, value in values.items()]
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as env_file:
        env_file.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    return path


def run_dev(*, port: int, stripesim_port: int, var_dir: Path) -> None:
    var_dir.mkdir(parents=True, exist_ok=True)
    click.echo(f"paywire dev: starting stripesim on 127.0.0.1:{stripesim_port} …")
    sim = start_stripesim(stripesim_port, var_dir)
    try:
        settings = dev_settings(port, sim.url, var_dir, None)
        name_the_business(sim.url, settings.app_url)
        connect_at_demo_pace(sim.url)
        upgrade_to_head(settings.database_url)
        changes = push(load_catalog(settings.catalog_path), StripeGateway.from_settings(settings))
        pushed = sum(1 for c in changes if c.action != "unchanged")
        secret = ensure_webhook_endpoint(settings, var_dir)
        connect_secret = ensure_webhook_endpoint(settings, var_dir, connect=True)
        settings = dev_settings(port, sim.url, var_dir, secret, connect_secret)
        env_path = write_dev_env(settings, var_dir)

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
                        f"  dev inbox     {settings.app_link('/dev/mail')}  (every mail the product sends)",
                        f"  marketplace   {settings.app_link('/seller')} (sell: onboard on stripesim's page), "
                        f"{settings.app_link('/marketplace')} (buy from a seller)",
                        "  time travel   bin/paywire clock advance --user <id> --by 31d  (or the account page)",
                        f"  health        {settings.app_url}/readyz",
                        f"  stripesim     {sim.url}  (log: {sim.log_path})",
                        f"  database      {settings.database_url_for_logs}",
                        f"  settings      {env_path}  (read by `paywire …` commands run in this folder)",
                        "  a token       bin/paywire token u1  (a bearer token for the API; see README)",
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
