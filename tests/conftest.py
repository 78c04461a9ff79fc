"""Fixtures shared by the whole suite: a real stripesim process over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import stripe

from tests.support.processes import Process, free_port, python_module, wait_http
from tests.support.stripesim import Sim


@pytest.fixture(scope="session")
def stripesim_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    port = free_port()
    log = Path(tmp_path_factory.mktemp("stripesim")) / "stripesim.log"
    process = Process(python_module("stripesim.cli", "--port", str(port), "--log-level", "warning"), log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/_sim/health", proc=process.proc)
    except Exception:
        process.stop()
        raise RuntimeError("stripesim did not start:\n" + process.output()) from None
    yield Sim(url, process)
    process.stop()


@pytest.fixture
def sim(stripesim_server: Sim) -> Sim:
    """A freshly reset stripesim."""
    stripesim_server.reset()
    return stripesim_server


@pytest.fixture
def stripe_client(sim: Sim) -> stripe.StripeClient:
    return sim.client()
