"""Fixtures shared by the whole suite: a real stripesim process over HTTP; the suite's two
tiers (see tests/README.md)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import stripe

from tests.support.processes import Process, free_port, python_module, wait_http
from tests.support.stripesim import Sim

# paywire's request budget (PAYWIRE_STRIPE_RATE_LIMIT) would pace the suite's thousands of
# requests to stripesim at 20 a second: off, unless a test of the budget sets one.
os.environ.setdefault("PAYWIRE_STRIPE_RATE_LIMIT", "off")

# A test using any of these (directly or through other fixtures) needs a server: a stripesim
# process, uvicorn, a `paywire worker` process, Chromium or the PostgreSQL server.
SERVER_FIXTURES = frozenset(
    {"stripesim_server", "make_paywire_service", "serve_app", "spawn_worker", "browser", "postgres_server_url"}
)
# Marks that say the same; `postgres` is put on the PostgreSQL case of the database fixtures.
SERVER_MARKS = frozenset({"e2e", "browser", "postgres"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Sort every test into a tier, `e2e` (needs a server) or `fast` (none: SQLite files and
    in-process code only), by the fixtures and marks it has, so a new test lands in the right
    tier by itself. A test that starts a server by hand says so with `@pytest.mark.e2e`."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if "browser" in fixtures:
            item.add_marker(pytest.mark.browser)
        if fixtures & SERVER_FIXTURES or any(item.get_closest_marker(m) for m in SERVER_MARKS):
            if item.get_closest_marker("e2e") is None:
                item.add_marker(pytest.mark.e2e)
        else:
            item.add_marker(pytest.mark.fast)


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
