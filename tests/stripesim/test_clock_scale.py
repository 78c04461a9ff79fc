"""A test clock with many subscriptions: one advance renews them all, looking at each record a
bounded number of times (not every record at every step), in slices, answering the API in
between. And the limits Stripe enforces per key, with the log of what was asked. In process:
no server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from stripesim import engine
from stripesim.app import Simulator

KEY = "sk_test_stripesim_scale_test_key"
T0 = 1_893_456_000
MONTH = 31 * 86400


class Api:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def __call__(self, method: str, path: str, params: dict[str, Any] | None = None, key: str = KEY) -> Any:
        return self.sim.call(key, method, path, params)


def on_one_clock(api: Api, subscribers: int) -> tuple[str, list[str]]:
    product = api("POST", "/v1/products", {"name": "Basic"})[1]
    price = api(
        "POST",
        "/v1/prices",
        {"product": product["id"], "unit_amount": 900, "currency": "usd", "recurring[interval]": "month"},
    )[1]
    clock = api("POST", "/v1/test_helpers/test_clocks", {"frozen_time": T0})[1]
    subscriptions = []
    for _ in range(subscribers):
        customer = api("POST", "/v1/customers", {"test_clock": clock["id"]})[1]
        card = api("POST", "/v1/payment_methods", {"type": "card", "card[token]": "tok_visa"})[1]
        api("POST", f"/v1/payment_methods/{card['id']}/attach", {"customer": customer["id"]})
        api("POST", f"/v1/customers/{customer['id']}", {"invoice_settings[default_payment_method]": card["id"]})
        sub = api("POST", "/v1/subscriptions", {"customer": customer["id"], "items[0][price]": price["id"]})[1]
        subscriptions.append(sub["id"])
    return clock["id"], subscriptions


@pytest.fixture
def counted_timers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many times any timer was asked when its record is next due."""
    calls = [0]
    for timer in engine.TIMERS:
        original = timer.next_due

        def counted(state: Any, record: Any, original: Any = original) -> Any:
            calls[0] += 1
            return original(state, record)

        monkeypatch.setattr(timer, "next_due", counted)
    yield calls


def renewed(api: Api, subscriptions: list[str]) -> int:
    done = 0
    for subscription_id in subscriptions:
        sub = api("GET", f"/v1/subscriptions/{subscription_id}")[1]
        invoice = api("GET", f"/v1/invoices/{sub['latest_invoice']}")[1]
        done += invoice["billing_reason"] == "subscription_cycle" and invoice["status"] == "paid"
    return done


def test_one_advance_renews_every_subscription_looking_at_each_record_a_few_times(counted_timers: list[int]) -> None:
    sim = Simulator()
    api = Api(sim)
    clock, subscriptions = on_one_clock(api, 400)
    records = sum(len(sim.state.by_type.get(t.object_type, [])) for t in engine.TIMERS)
    counted_timers[0] = 0

    fired = sim.engine.run_due(clock, T0 + MONTH + 7200)

    assert renewed(api, subscriptions) == 400
    assert fired >= 2 * 400, "a renewal and its invoice's payment each"
    # Each record looked at when the advance starts and again after what touches it: a bounded
    # number of times, not (as a scan per step would) once per record per step.
    assert counted_timers[0] < 12 * (records + 3 * fired)
    assert counted_timers[0] < records * fired / 20


def test_an_advance_works_in_slices_and_answers_the_api_meanwhile() -> None:
    sim = Simulator()
    api = Api(sim)
    clock, subscriptions = on_one_clock(api, 300)

    async def advance() -> list[str]:
        advanced = api("POST", f"/v1/test_helpers/test_clocks/{clock}/advance", {"frozen_time": T0 + MONTH + 7200})
        status, found, _ = advanced
        assert status == 200 and found["status"] == "advancing"
        seen = []
        while True:
            await asyncio.sleep(0.005)
            status, found, _ = api("GET", f"/v1/test_helpers/test_clocks/{clock}")
            assert status == 200
            seen.append(found["status"])
            if found["status"] == "ready":
                return seen

    seen = asyncio.run(advance())

    assert seen.count("advancing") >= 2, "the API answered between the advance's slices"
    assert renewed(api, subscriptions) == 300


def test_work_due_in_real_time_meanwhile_leaves_the_advance_watching_what_it_creates() -> None:
    """The real-time tick runs its own short advance between a clock's slices; when it ends it
    stops watching its records, not the clock's advance (two empty sets are equal): otherwise
    the renewals' new invoices went unseen and stayed drafts (8,007 of 10,000 in the storm)."""
    sim = Simulator()
    api = Api(sim)
    clock, subscriptions = on_one_clock(api, 20)
    work = sim.engine.advance(clock, T0 + MONTH + 7200)

    sim.engine.run_due(None, sim.state.now())  # the tick, between two slices
    work.run()

    assert renewed(api, subscriptions) == 20


def test_the_real_time_tick_passes_by_records_on_a_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """At a storm the tick ran every second over every record (14% of stripesim's loop, in
    one stall): once an advance has seen a record on a clock, the others pass it by. (That the
    tick still fires what is due in real time: tests/stripesim/test_app.py.)"""
    sim = Simulator()
    api = Api(sim)
    clock, subscriptions = on_one_clock(api, 200)
    customer = api("POST", "/v1/customers", {"email": "now@example.com"})[1]
    card = api("POST", "/v1/payment_methods", {"type": "card", "card[token]": "tok_visa"})[1]
    api("POST", f"/v1/payment_methods/{card['id']}/attach", {"customer": customer["id"]})
    api("POST", f"/v1/customers/{customer['id']}", {"invoice_settings[default_payment_method]": card["id"]})
    price = api("GET", "/v1/prices")[1]["data"][0]["id"]
    api("POST", "/v1/subscriptions", {"customer": customer["id"], "items[0][price]": price})  # on no clock
    sim.engine.run_due(None, sim.state.now())  # the first tick sees every record once
    on_no_clock = sum(
        1
        for t in engine.TIMERS
        for object_id in sim.state.by_type.get(t.object_type, [])
        if sim.state.clock_of(sim.state.objects[object_id]) is None
    )
    looked_at: list[Any] = []
    clock_of = sim.state.clock_of

    def counted(record: Any) -> str | None:
        looked_at.append(record)
        return clock_of(record)

    monkeypatch.setattr(sim.state, "clock_of", counted)
    sim.engine.run_due(None, sim.state.now())
    monkeypatch.undo()

    assert 0 < len(looked_at) <= on_no_clock, "the records on no clock looked at, and only they"
    assert sim.engine.run_due(clock, T0 + MONTH + 7200) >= 2 * 200, "the clock's own advance renews its records"
    assert renewed(api, subscriptions) == 200


def test_the_limit_per_key_answers_429_with_stripe_should_retry_and_the_log_tells_keys_apart() -> None:
    sim = Simulator()
    api = Api(sim)
    api("POST", "/_sim/config", {"rate_limit_per_s": 3, "rate_limit_refill": "false"})
    statuses = [api("GET", "/v1/customers")[0] for _ in range(4)]
    other_key = api("GET", "/v1/customers", key="sk_test_another_key_of_the_account")
    _, body, headers = api("GET", "/v1/customers")

    assert statuses == [200, 200, 200, 429]
    assert other_key[0] == 200, "each key has its own limit"
    assert headers["stripe-should-retry"] == "true" and headers["retry-after"] == "1"
    assert (body["error"]["type"], body["error"]["code"]) == ("invalid_request_error", "rate_limit")
    # The log is kept by the ASGI entry point; in process, `handle` bypasses it: the app's own path.
    sim.request_log.append((1.0, KEY[-6:], "GET", "/v1/customers", 429))
    logged = api("GET", "/_sim/requests", {"key": KEY[-6:]})[1]["data"]
    assert logged == [[1.0, KEY[-6:], "GET", "/v1/customers", 429]]


def test_search_has_its_own_lower_limit() -> None:
    sim = Simulator()
    api = Api(sim)
    api("POST", "/_sim/config", {"rate_limit_per_s": 100, "rate_limit_search_per_s": 2, "rate_limit_refill": "false"})
    searches = [api("GET", "/v1/customers/search", {"query": "email:'a@example.com'"})[0] for _ in range(3)]
    assert searches == [200, 200, 429]
    assert api("GET", "/v1/customers")[0] == 200
