"""`paywire doctor` against `paywire dev`: it scores and explains each of the 8 signals, lists
the security and go-live checklists, and exits 0; with the webhook endpoint deleted in Stripe
(a misconfiguration), that signal fails with its fix and the command exits 1."""

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

from tests.support.processes import free_port

PAYWIRE = [sys.executable, "-m", "paywire.cli.main"]
DEV_KEY = ("sk_test_paywire_dev_local_only", "")
pytestmark = pytest.mark.e2e  # starts `paywire dev` itself


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "PAYWIRE_"))}
    env.pop("DATABASE_URL", None)
    return env


def _doctor(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PAYWIRE, "doctor", *args], env=_env(), cwd=folder, capture_output=True, text=True, timeout=120
    )


def _wait_running(log: Path, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "paywire dev is running" in (log.read_text(errors="replace") if log.exists() else ""):
            return
        assert proc.poll() is None, log.read_text(errors="replace")
        time.sleep(0.1)
    raise AssertionError("paywire dev did not start:\n" + log.read_text(errors="replace"))


def test_doctor_on_the_dev_stack_scores_each_signal_and_fails_without_the_webhook_endpoint(tmp_path: Path) -> None:
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
    try:
        _wait_running(log, proc)
        shown = _doctor(tmp_path)
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert "Health: " in shown.stdout and "Go-live checklist" in shown.stdout
        report = json.loads(_doctor(tmp_path, "--json").stdout)
        assert report["out_of"] == 8 and report["score"] >= 5 and report["ok"] is True
        assert [s["name"] for s in report["signals"]] == [
            "webhook endpoint",
            "idempotency keys",
            "customer portal",
            "tax",
            "retries and dunning notices",
            "PCI SAQ A attested",
            "live mode",
            "alerting",
        ]
        assert all(s["detail"] and (s["status"] == "pass" or s["fix"]) for s in report["signals"])
        by_name = {s["name"]: s["status"] for s in report["signals"]}
        assert by_name["webhook endpoint"] == by_name["customer portal"] == "pass"
        assert {c["priority"] for c in report["go_live"]} == {"P0", "P1", "P2"}
        assert [c["name"] for c in report["security"]][-1] == "demo sign-in off"

        sim = f"http://127.0.0.1:{sim_port}"
        for endpoint in httpx.get(f"{sim}/v1/webhook_endpoints", auth=DEV_KEY, trust_env=False).json()["data"]:
            httpx.delete(f"{sim}/v1/webhook_endpoints/{endpoint['id']}", auth=DEV_KEY, trust_env=False)
        broken = _doctor(tmp_path, "--json")
        assert broken.returncode == 1, broken.stdout + broken.stderr
        found = json.loads(broken.stdout)
        endpoint_signal = found["signals"][0]
        assert endpoint_signal["status"] == "fail" and "/webhooks/stripe" in endpoint_signal["fix"]
        assert found["ok"] is False and "live webhook endpoint" in [
            c["name"] for c in found["go_live"] if c["priority"] == "P0" and c["status"] == "fail"
        ]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
