"""`paywire worker` as real processes beside a service that only receives: events stored by
the receiver are processed by the other processes, each exactly once, and SIGTERM stops
a worker cleanly."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from paywire.db.repositories import test_clocks
from tests.paywire.conftest import Service
from tests.paywire.events.conftest import inbox_rows, wait_for
from tests.support.processes import Process
from tests.support.stripesim import TEST_KEY, Sim

PAYWIRE = [sys.executable, "-m", "paywire.cli.main"]
CLOCK_TIME = 1_800_000_000


@pytest.fixture
def start_worker_process(tmp_path: Path) -> Iterator[Callable[[Service, str], Process]]:
    running: list[Process] = []

    def start(service: Service, name: str) -> Process:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "PAYWIRE_", "DATABASE_URL"))}
        env.update(
            STRIPE_SECRET_KEY=TEST_KEY,
            STRIPE_API_BASE=str(service.settings.stripe_api_base),
            DATABASE_URL=service.settings.database_url,
            PAYWIRE_WORKER_POLL_INTERVAL="0.05",
            PAYWIRE_LOG_LEVEL="INFO",
        )
        process = Process([*PAYWIRE, "worker"], tmp_path / f"{name}.log", env=env)
        running.append(process)
        return process

    yield start
    for process in running:
        process.stop(signal.SIGKILL)


def test_paywire_worker_processes_what_the_receiver_stored(
    make_paywire_service: Callable[..., Service], sim: Sim, start_worker_process: Callable[[Service, str], Process]
) -> None:
    service = make_paywire_service(with_worker=False)
    client = sim.client()
    clocks = [client.v1.test_helpers.test_clocks.create(params={"frozen_time": CLOCK_TIME + n}) for n in range(20)]
    wait_for("all events stored", lambda: len(inbox_rows(service)) == 20)

    workers = [start_worker_process(service, f"worker{n}") for n in range(2)]
    wait_for(
        "all events processed by the worker processes",
        lambda: len(inbox_rows(service, state="processed")) == 20 or [w.proc.poll() for w in workers if w.proc.poll()],
    )

    rows = inbox_rows(service)
    assert {r.state for r in rows} == {"processed"}, [w.output() for w in workers]
    assert {r.attempts for r in rows} == {1}, "no event was processed twice"
    with service.sessions() as session:
        assert all(test_clocks.find(session, c.id) is not None for c in clocks)
    for worker in workers:
        # A signal during start-up (imports) would kill it before its handler exists.
        wait_for("the worker's start line", lambda w=worker: "started" in w.output())
        worker.proc.send_signal(signal.SIGTERM)
        assert worker.proc.wait(20) == 0, worker.output()
