"""A hybrid subscriber's usage, recorded from two threads and a batch, every request sent three
times, while the sender is killed (SIGKILL) again and again between sending to Stripe and noting
it: at the period end (test clock) Stripe's invoice bills exactly the sum recorded, to the unit,
with the included allowance applied."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.paywire.billing.subscribers import FEB_1, MAR_1, subscribed, wait_for
from tests.paywire.conftest import Service
from tests.paywire.usage.conftest import QUICK_SENDER, SenderSpawner, post_usage, states, stripe_usage
from tests.support.processes import STARTUP_SECONDS, Process
from tests.support.stripesim import Sim

HOUR = 3600
SINGLE = 60  # single-event requests per thread
A_VALUE, B_VALUE, BATCH_SIZE, BATCH_VALUE = 100, 80, 200, 11
RECORDED = SINGLE * A_VALUE + SINGLE * B_VALUE + BATCH_SIZE * BATCH_VALUE  # 13,000 API calls
INCLUDED = 10_000
CRASHES_AT = {"PAYWIRE_TEST_CRASH_AT": "usage_sent_before_record", "PAYWIRE_TEST_CRASH_PROBABILITY": "0.3"}
# The senders that die send one request a second. The pace is a token bucket holding one second,
# so at one a second no round's requests leave together: a round's batches of 100 are marked
# sent a second apart, and the SIGKILL from outside finds some sent and some waiting, however
# fast or loaded the machine. (At 20 a second, a round of up to 20 requests left at once and
# was marked sent within milliseconds: a poll could miss the whole of it.)
SLOW = {"PAYWIRE_USAGE_RATE_LIMIT": "1"}


def _next_sender_env(deaths: int, killed: bool) -> dict[str, str]:
    """The sender after the first death dies at the crash point for certain (events are still
    pending then, so it reaches it however fast the machine drains the rest); the next two may;
    then one that lives: slow until the SIGKILL from outside has come, then quick, to finish."""
    if deaths == 1:
        return {**CRASHES_AT, "PAYWIRE_TEST_CRASH_PROBABILITY": "1", **SLOW}
    if deaths < 4:
        return {**CRASHES_AT, **SLOW}
    return {} if killed else SLOW


def _three_times(send: Callable[[], Any]) -> list[Any]:
    return [send() for _ in range(3)]


def test_usage_sent_through_crashes_is_billed_exactly_once(
    make_paywire_service: Callable[..., Service], sim: Sim, spawn_sender: SenderSpawner
) -> None:
    # The sender runs on its own, to be killed; the service's worker applies webhooks only.
    service = make_paywire_service(**QUICK_SENDER, PAYWIRE_USAGE_SENDER="false")
    hank = subscribed(service, sim, "hank", "scale")
    answers: dict[str, list[dict[str, Any]]] = {"a": [], "b": [], "batch": []}
    lock = threading.Lock()

    def single(thread: str, i: int) -> None:
        if thread == "a":  # the caller's identifiers
            body, key = {"user_id": "hank", "meter": "api_calls", "value": A_VALUE, "identifier": f"a-{i}"}, None
        else:  # no identifier: derived from the request's key
            body, key = {"user_id": "hank", "meter": "api_calls", "value": B_VALUE}, f"b-{i}"
        for response in _three_times(lambda: post_usage(service, body, key=key)):
            assert response.status_code == 202, response.text
            with lock:
                answers[thread].append(response.json())

    def record(thread: str) -> None:
        for i in range(SINGLE):
            single(thread, i)

    def batch() -> None:
        events = [{"user_id": "hank", "meter": "api_calls", "value": BATCH_VALUE} for _ in range(BATCH_SIZE)]
        response = post_usage(service, {"events": events}, key="nightly-batch")
        assert response.status_code == 202, response.text
        with lock:
            answers["batch"].append(response.json())

    sender = spawn_sender(service, "sender-0", **CRASHES_AT, **SLOW)
    deaths, killed = 0, False
    with ThreadPoolExecutor(max_workers=5) as pool:
        recorders = [pool.submit(record, "a"), pool.submit(record, "b"), *(pool.submit(batch) for _ in range(3))]
        deadline = time.monotonic() + 4 * STARTUP_SECONDS
        while True:
            now = states(service)
            if all(f.done() for f in recorders) and not now.get("pending"):
                break
            assert time.monotonic() < deadline, f"usage still pending: {now}"
            if not killed and now.get("sent", 0) and now.get("pending"):
                sender.stop(signal.SIGKILL)  # mid-way: some sent, some waiting, wherever it is
                killed = True
            if sender.proc.poll() is not None:
                deaths += 1
                sender = spawn_sender(service, f"sender-{deaths}", **_next_sender_env(deaths, killed))
            time.sleep(0.05)
        for future in recorders:
            future.result()
    assert killed and deaths >= 2, f"the sender died {deaths} time(s)"
    _assert_each_event_accepted_once(answers)
    assert states(service) == {"sent": 2 * SINGLE + BATCH_SIZE}

    assert stripe_usage(hank, FEB_1, MAR_1) == RECORDED  # nothing counted twice, nothing lost
    assert hank.billing()["usage"][0]["used"] == RECORDED
    hank.advance(MAR_1 + 2 * HOUR)
    renewal = hank.latest_invoice()
    usage_lines = [line for line in renewal["lines"]["data"] if "API calls" in line["description"]]
    beyond = RECORDED - INCLUDED
    assert [(line["quantity"], line["amount"]) for line in usage_lines] == [(INCLUDED, 0), (beyond, beyond // 10)]
    assert renewal["amount_paid"] == 2000 + beyond // 10  # Scale's month, and $1 per 1,000 beyond
    assert renewal["status"] == "paid"
    _stop(sender)


def _assert_each_event_accepted_once(answers: dict[str, list[dict[str, Any]]]) -> None:
    for thread in ("a", "b"):
        statuses = [a["events"][0]["status"] for a in answers[thread]]
        assert statuses.count("accepted") == SINGLE and statuses.count("duplicate") == 2 * SINGLE, thread
        identifiers = [a["events"][0]["identifier"] for a in answers[thread]]
        assert len(set(identifiers)) == SINGLE  # the three copies of a request: one event
    batches = answers["batch"]
    assert sum(b["accepted"] for b in batches) == BATCH_SIZE
    assert sum(b["duplicates"] for b in batches) == 2 * BATCH_SIZE


def _stop(process: Process) -> None:
    process.stop(signal.SIGTERM)
    wait_for("the sender stopped", lambda: process.proc.poll() is not None)
