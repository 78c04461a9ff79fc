"""One request budget for the deployment: two `paywire worker` processes and a `paywire sync`
command, each its own process, draw on the same budget (a file beside the SQLite database; a
row in PostgreSQL), so together they never send Stripe more than it allows."""

from __future__ import annotations

import itertools
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.paywire.conftest import Service
from tests.paywire.events.conftest import PAYWIRE, Shop, WorkerSpawner, inbox_drained, wait_for, wait_started
from tests.support.stripesim import TEST_KEY, Sim

RATE = 4  # requests a second, for the whole deployment


def most_in_a_second(times: list[float]) -> int:
    return max(sum(1 for t in times if start <= t < start + 1) for start in times)


def test_two_workers_and_a_sync_share_one_budget(
    make_paywire_service: Callable[..., Service], sim: Sim, spawn_worker: WorkerSpawner, tmp_path: Path
) -> None:
    service = make_paywire_service(with_worker=False)
    for n in range(5):
        shop = Shop(service, sim, f"user_shared_budget_{n}")
        assert shop.pay(shop.checkout({"plan": "pro", "interval": "month", "quantity": 1})).status_code == 200
    wait_for("every delivery stored", lambda: sim.get("webhooks/attempts")["pending"] == 0)
    started = time.time()
    # Every event re-read (the payload rule off), so the workers have plenty to ask.
    env = {"PAYWIRE_STRIPE_RATE_LIMIT": str(RATE), "PAYWIRE_APPLY_EVENT_PAYLOADS": "false"}
    workers = [spawn_worker(service, f"worker-{n}", **env) for n in range(2)]
    wait_started(workers)  # both at work before the sync joins (starting one takes seconds when loaded)
    sync_env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "PAYWIRE_", "DATABASE_URL"))}
    sync_env.update(
        STRIPE_SECRET_KEY=TEST_KEY,
        STRIPE_API_BASE=sim.url,
        DATABASE_URL=service.settings.database_url,
        **env,
    )
    with (tmp_path / "sync.log").open("w") as log:
        sync = subprocess.Popen([*PAYWIRE, "sync", "--no-progress"], env=sync_env, stdout=log, stderr=subprocess.STDOUT)
        try:
            assert sync.wait(timeout=240) == 0, (tmp_path / "sync.log").read_text()
        finally:
            if sync.poll() is None:
                sync.kill()
    wait_for("the workers through the inbox", lambda: inbox_drained(service), timeout=240)
    for worker in workers:
        assert "outcome=processed" in worker.output(), "each worker did its share"

    key = TEST_KEY[-6:]
    sent = [entry for entry in sim.get("requests")["data"] if entry[1] == key and entry[0] >= started]
    lists = [e for e in sent if e[3] in ("/v1/customers", "/v1/subscriptions", "/v1/invoices")]
    reads = [e for e in sent if e not in lists]
    assert lists and reads, "the sync listed, the workers read"
    times = sorted(e[0] for e in sent)
    # Three processes each on its own budget would send three times as fast.
    assert times[-1] - times[0] >= (len(times) - 1) / RATE - 0.5, "together at most the budget's rate"
    # stripesim notes a request when its loop gets to it: on a loaded machine two may land a
    # little closer than they were sent, hence one more than the rate in a second at most.
    assert most_in_a_second(times) <= RATE + 1, "and never a burst above it"
    assert not [e for e in sent if e[4] == 429]
    assert all(b >= a for a, b in itertools.pairwise(times))
