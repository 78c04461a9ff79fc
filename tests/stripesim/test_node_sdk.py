"""The official Node SDK (stripe 23.1.0, the release pinning the same API version as the Python SDK)
runs a short billing flow against stripesim: `node/flow.mjs` asserts each step as it goes and
prints what it saw. The SDK is installed here with `npm ci` from `node/package-lock.json` when
`node/node_modules` lacks it, so the suite needs node and npm, and nothing else set up."""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.stripesim import TEST_KEY, Sim

NODE_DIR = Path(__file__).parent / "node"
SDK_VERSION = "23.1.0"


@pytest.fixture(scope="session")
def node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node and npm are needed to run the official Node SDK against stripesim", pytrace=False)
    installed = NODE_DIR / "node_modules" / "stripe" / "package.json"
    # One install at a time, whatever the number of test workers.
    with (NODE_DIR / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not installed.exists() or json.loads(installed.read_text())["version"] != SDK_VERSION:
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True, text=True, timeout=300
            )
            if done.returncode != 0:
                pytest.fail(f"npm ci failed in {NODE_DIR}:\n{done.stdout}\n{done.stderr}", pytrace=False)
    return node


def test_the_official_node_sdk_runs_a_billing_flow(sim: Sim, node: str) -> None:
    done = subprocess.run(
        [node, "flow.mjs", sim.url, TEST_KEY], cwd=NODE_DIR, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, f"the Node flow failed:\n{done.stderr}\n{done.stdout}"
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["checkout"]["status"] == "active"
    assert seen["upgrade"]["amount_paid"] > 0
    assert seen["decline"] == {
        "type": "StripeCardError",
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "status": 402,
    }
    assert {
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "invoice.paid",
        "billing_portal.session.created",
        "payment_intent.payment_failed",
    } <= set(seen["webhooks"])
