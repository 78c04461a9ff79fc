"""stripesim's real-time tick (objects on no test clock): it fires what is due without a request
to prompt it, and it looks for due work (a pass over every record) only when something changed
or the earliest due it saw has come, so that a large idle account is not scanned every second.
In process: no server, the clock set by the test. And the log of requests the ASGI entry
point keeps (`/_sim/requests`), through a real server."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from stripesim.app import Simulator
from stripesim.engine import Advance
from tests.support.stripesim import TEST_KEY
from tests.support.stripesim import Sim as SimServer

KEY = "sk_test_stripesim_tick_test_key"


class Sim:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sim = Simulator()
        self.now = 1_893_456_000
        real_now = self.sim.state.now
        monkeypatch.setattr(self.sim.state, "now", lambda clock=None: real_now(clock) if clock else self.now)
        self.looks = 0
        work_off = self.sim.engine.work_off

        def counted(*args: Any, **kwargs: Any) -> Advance:
            self.looks += 1
            return work_off(*args, **kwargs)

        monkeypatch.setattr(self.sim.engine, "work_off", counted)

    def ok(self, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
        status, body, _ = self.sim.call(KEY, method, path, params)
        assert status == 200, body
        return body

    def tick(self) -> None:
        self.sim._run_due_now()


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Sim:
    return Sim(monkeypatch)


def _open_session(sim: Sim) -> dict[str, Any]:
    product = sim.ok("POST", "/v1/products", {"name": "Pass"})
    price = sim.ok("POST", "/v1/prices", {"product": product["id"], "unit_amount": 400, "currency": "usd"})
    return sim.ok(  # type: ignore[no-any-return]
        "POST",
        "/v1/checkout/sessions",
        {
            "mode": "payment",
            "success_url": "https://example.com/done",
            "line_items[0][price]": price["id"],
            "line_items[0][quantity]": 1,
            "expires_at": sim.now + 1800,
        },
    )


def test_due_work_fires_in_real_time_without_a_request(sim: Sim) -> None:
    session = _open_session(sim)
    sim.tick()
    assert sim.ok("GET", f"/v1/checkout/sessions/{session['id']}")["status"] == "open"

    sim.now = session["expires_at"]
    sim.tick()
    assert sim.ok("GET", f"/v1/checkout/sessions/{session['id']}")["status"] == "expired"


def test_the_tick_looks_again_only_after_a_change_or_once_work_is_due(sim: Sim) -> None:
    session = _open_session(sim)
    sim.tick()
    assert sim.looks == 1

    sim.now += 60
    sim.tick()
    sim.ok("GET", "/v1/checkout/sessions", {"limit": 10})  # reads change nothing
    sim.tick()
    assert sim.looks == 1, "nothing changed and nothing was due: no pass over the records"

    sim.ok("POST", "/v1/customers", {"email": "new@example.com"})
    sim.tick()
    assert sim.looks == 2, "a request changed the state: look again"
    sim.tick()
    assert sim.looks == 2

    sim.now = session["expires_at"] - 1
    sim.tick()
    assert sim.looks == 2
    sim.now = session["expires_at"]
    sim.tick()
    assert sim.looks == 3, "the earliest due work came: look, and fire it"
    assert sim.ok("GET", f"/v1/checkout/sessions/{session['id']}")["status"] == "expired"
    sim.now += 3600
    sim.tick()
    assert sim.looks == 3, "what the look fired it also looked at again: nothing is due"


def test_the_request_log_keeps_when_a_request_arrived_not_when_it_was_answered(stripesim_server: SimServer) -> None:
    """A counting proxy tells when requests reached it: an answer that comes later (a slow
    list, a loop busy with something else) does not move the request next to those after it."""
    stripesim_server.reset()
    stripesim_server.control("faults", {"api": {"delay_ms": 400}})
    try:
        sent = time.time()
        answered = httpx.get(
            f"{stripesim_server.url}/v1/customers",
            headers={"Authorization": f"Bearer {TEST_KEY}"},
            timeout=30,
            trust_env=False,
        )
        done = time.time()
    finally:
        stripesim_server.control("faults", {"api": {"delay_ms": 0}})
    assert answered.status_code == 200
    logged = [e for e in stripesim_server.get(f"requests?since={sent - 1}")["data"] if e[3] == "/v1/customers"]
    assert len(logged) == 1
    assert done - sent >= 0.4, "answered after the delay"
    assert sent - 0.05 <= logged[0][0] < sent + 0.2, "logged as it arrived, not 400 ms later"
