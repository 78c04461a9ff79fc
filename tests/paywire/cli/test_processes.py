"""`paywire serve` and `paywire dev` as real processes, stopped as a user would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from paywire.config import DEV_AUTH_SECRET
from paywire.db.migrate import upgrade_to_head
from paywire.web.auth import issue_token
from tests.paywire.events.conftest import event_payload, sign
from tests.support.processes import free_port, wait_http
from tests.support.stripesim import TEST_KEY, Sim

PAYWIRE = [sys.executable, "-m", "paywire.cli.main"]
pytestmark = pytest.mark.e2e  # each test starts paywire (and stripesim) itself


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "PAYWIRE_"))}
    env.pop("DATABASE_URL", None)
    env.update(values)
    return env


def _wait_for_line(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = log.read_text(errors="replace") if log.exists() else ""
        if text in content:
            return content
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode}:\n{content}")
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared:\n{log.read_text(errors='replace')}")


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> dict[str, object]:
    """Poll `/readyz` until it answers 200 (the worker process takes a moment to start)."""
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(url, trust_env=False)
        if r.status_code == 200:
            body: dict[str, object] = r.json()
            return body
        assert r.status_code == 503 and r.json()["checks"].get("worker") == "starting", r.text
        assert proc.poll() is None and time.monotonic() < deadline, r.text
        time.sleep(0.05)


def _worker_pids(server_pid: int) -> list[int]:
    """The events workers among the server's child processes (multiprocessing's resource
    tracker is one too)."""
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    workers = [
        int(pid)
        for pid in children
        if b"multiprocessing.spawn" in Path(f"/proc/{pid}/cmdline").read_bytes()
        and b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    return workers


def _nice(pid: int) -> int:
    # /proc/<pid>/stat: the 19th field is the nice value (after the parenthesized command).
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[16])


def test_serve_runs_until_interrupted(sim: Sim, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/serve.sqlite3"
    upgrade_to_head(database)
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*PAYWIRE, "serve", "--port", str(port)],
            env=_env(
                STRIPE_SECRET_KEY=TEST_KEY,
                STRIPE_API_BASE=sim.url,
                DATABASE_URL=database,
                STRIPE_WEBHOOK_SECRET="whsec_test",
                PAYWIRE_AUTH_SECRET="s" * 40,
                PAYWIRE_WORKER_PROCESSES="2",
            ),
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc)
        ready = _wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
        assert ready == {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "worker": "ok"}}
        assert "whsec_test" not in log.read_text() and "s" * 40 not in log.read_text()
        # What the worker processes count reaches the server's /metrics.
        body = event_payload("evt_metrics_1", "paywire.metrics_probe")
        stored = httpx.post(
            f"http://127.0.0.1:{port}/webhooks/stripe",
            content=body,
            headers={"Stripe-Signature": sign(body, "whsec_test"), "Content-Type": "application/json"},
            trust_env=False,
        )
        assert stored.status_code == 200, stored.text
        line = 'paywire_webhooks_unhandled_total{type="paywire.metrics_probe"} 1.0'
        deadline = time.monotonic() + 60  # the worker processes are niced: slow on a loaded machine
        while line not in httpx.get(f"http://127.0.0.1:{port}/metrics", trust_env=False).text:
            assert time.monotonic() < deadline, "the worker's count never reached /metrics"
            time.sleep(0.2)
        # One of the two worker processes dies: the service says it is not ready (it no longer
        # works as configured), while the process itself still answers.
        workers = _worker_pids(proc.pid)
        assert len(workers) == 2, workers
        # The first at PAYWIRE_WORKER_NICE (10), the other at the lowest priority (19).
        base = _nice(proc.pid)
        assert sorted(_nice(pid) for pid in workers) == [min(base + 10, 19), 19]
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while (r := httpx.get(f"http://127.0.0.1:{port}/readyz", trust_env=False)).status_code == 200:
            assert time.monotonic() < deadline, "readyz still ready after the worker was killed"
            time.sleep(0.1)
        assert r.status_code == 503 and r.json()["checks"]["worker"] == "stopped"
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", trust_env=False).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0  # a niced worker may take a while to stop on a loaded machine


def _cli(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A paywire command run in `folder` with no paywire or Stripe setting in its environment."""
    return subprocess.run([*PAYWIRE, *args], env=_env(), cwd=folder, capture_output=True, text=True, timeout=120)


def _the_cli_finds_the_dev_stack(folder: Path, app: str) -> None:
    """In the folder `paywire dev` runs in, the other commands talk to that stack by themselves."""
    settings_file = folder / "var" / "paywire-dev.env"
    assert settings_file.stat().st_mode & 0o077 == 0, "the dev settings (a webhook secret) are readable by others"
    for args in (["events", "list"], ["sync", "--dry-run"], ["catalog", "check"]):
        done = _cli(folder, *args)
        assert done.returncode == 0, f"paywire {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        assert " INFO " not in done.stdout + done.stderr, "library chatter (alembic, the SDK) stays quiet"
    assert "in line" in _cli(folder, "catalog", "check").stdout
    minted = _cli(folder, "token", "u1", "--email", "u1@example.com", "--ttl", "10m")
    assert minted.returncode == 0, minted.stderr
    billing = httpx.get(
        f"{app}/api/billing", headers={"Authorization": f"Bearer {minted.stdout.strip()}"}, trust_env=False
    )
    assert billing.status_code == 200 and billing.json()["access"] is False


def test_a_command_without_a_database_says_so_and_creates_none(tmp_path: Path) -> None:
    done = _cli(tmp_path, "events", "list")
    assert done.returncode == 2
    assert "DATABASE_URL" in done.stderr and "does not exist" in done.stderr
    assert not (tmp_path / "paywire.sqlite3").exists(), "a failing command left an empty database behind"
    assert "alembic" not in done.stdout + done.stderr


def test_token_refuses_a_bad_user_id_or_ttl(tmp_path: Path) -> None:
    assert _cli(tmp_path, "token", "u1", "--ttl", "forever").returncode == 2
    assert _cli(tmp_path, "token", "bad\x07id").returncode == 2  # a control character
    # Outside dev mode there is no secret to sign with unless one is configured.
    refused = _cli(tmp_path, "token", "u1")
    assert refused.returncode == 2 and "PAYWIRE_AUTH_SECRET" in refused.stderr


def test_dev_starts_everything_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    port, sim_port = free_port(), free_port()
    log = tmp_path / "dev.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*PAYWIRE, "dev", "--port", str(port), "--stripesim-port", str(sim_port)],
            env=_env(),
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    app, sim_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sim_port}"
    try:
        output = _wait_for_line(log, "paywire dev is running", proc)
        assert f"paywire dev is running: open {app}/pricing" in output and sim_url in output
        assert httpx.get(f"{app}/readyz", trust_env=False).status_code == 200
        page = httpx.get(f"{app}/pricing", trust_env=False)
        assert page.status_code == 200 and "Subscribe" in page.text
        assert httpx.get(f"{app}/sign-in", trust_env=False).status_code == 200
        # dev mode signs with the public dev secret: a token of it is what a dev app would send.
        auth = {"Authorization": f"Bearer {issue_token(DEV_AUTH_SECRET, 'dev-user', None)}"}
        billing = httpx.get(f"{app}/api/billing", headers=auth, trust_env=False)
        assert billing.json()["access"] is False
        checkout = httpx.post(
            f"{app}/api/checkout",
            json={"plan": "pro", "interval": "month", "quantity": 2},
            headers=auth,
            trust_env=False,
            timeout=30,
        )
        assert checkout.status_code == 200, checkout.text
        assert checkout.json()["url"].startswith(sim_url)
        endpoints = httpx.get(
            f"{sim_url}/v1/webhook_endpoints",
            auth=("sk_test_paywire_dev_local_only", ""),
            trust_env=False,
        ).json()["data"]
        # The platform's endpoint, and the Connect endpoint (sellers' accounts) at the same receiver.
        assert sorted(e["url"] for e in endpoints) == [f"{app}/webhooks/stripe", f"{app}/webhooks/stripe?connect=1"]
        account = httpx.get(
            f"{sim_url}/v1/account", auth=("sk_test_paywire_dev_local_only", ""), trust_env=False
        ).json()
        # The hosted pages name the business and lead back to the app.
        assert account["business_profile"]["name"] == "paywire dev"
        assert account["business_profile"]["url"] == app
        remembered_path = tmp_path / "var" / "dev-webhook-endpoint.json"
        remembered = json.loads(remembered_path.read_text())
        assert remembered["id"] == next(e["id"] for e in endpoints if e["url"] == f"{app}/webhooks/stripe")
        assert remembered_path.stat().st_mode & 0o077 == 0, "the signing secret is readable by others"
        assert (tmp_path / "var" / "paywire-dev.sqlite3").exists()
        _the_cli_finds_the_dev_stack(tmp_path, app)
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
    assert code == 0, log.read_text()
    assert "paywire dev: stopped" in log.read_text()
    for url in (f"{app}/healthz", f"{sim_url}/_sim/health"):
        try:
            httpx.get(url, timeout=1, trust_env=False)
        except httpx.HTTPError:
            continue
        raise AssertionError(f"{url} still answers after Ctrl-C")
