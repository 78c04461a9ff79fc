"""Bursts: while the receiver acknowledges a burst of webhooks, workers hold off claiming,
for a bounded time (`InboxBell.hold`, `HoldPolicy`, the wake-up socket's hold byte)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from paywire.catalog import Catalog
from paywire.config import load_settings
from paywire.db.engine import make_engine
from paywire.events import receiver, wakeup
from paywire.events.bell import HOLD_SECONDS, InboxBell
from paywire.events.hold import HoldPolicy
from paywire.events.worker import WorkerThread, build_worker
from paywire.metrics import WORKER_HELD_SECONDS
from tests.paywire.conftest import Service
from tests.paywire.events.conftest import FAST_RETRY, inbox_row, inbox_rows, wait_for
from tests.support.stripesim import Sim


def test_a_hold_pauses_claims_in_steps_until_it_ends() -> None:
    policy = HoldPolicy(max_seconds=2.0, break_seconds=0.5, step=0.05)

    assert policy.pause(0.0, now=100.0) == 0.0  # no hold: claim
    assert policy.pause(0.03, now=100.0) == 0.03  # the rest of a short hold
    assert policy.pause(1.0, now=100.03) == 0.05  # a long one: a step at a time
    assert policy.pause(0.0, now=100.5) == 0.0  # over: claim


def test_a_hold_that_never_ends_still_leaves_the_worker_its_breaks() -> None:
    policy = HoldPolicy(max_seconds=2.0, break_seconds=0.5, step=0.05)

    assert policy.pause(10.0, now=0.0) == 0.05
    assert policy.pause(10.0, now=1.99) == 0.05
    # Held two seconds in a row: half a second of work, holds or not …
    assert policy.pause(10.0, now=2.0) == 0.0
    assert policy.pause(10.0, now=2.49) == 0.0
    # … then holds are obeyed again, for two seconds at most.
    assert policy.pause(10.0, now=2.5) == 0.05
    assert policy.pause(10.0, now=4.49) == 0.05
    assert policy.pause(10.0, now=4.5) == 0.0


def test_a_bell_hold_lasts_its_time_and_the_longest_wins() -> None:
    bell = InboxBell()
    assert bell.held_for() == 0.0

    bell.hold(5.0)
    bell.hold(0.01)  # a shorter one does not cut the first short

    assert 4.0 < bell.held_for() <= 5.0


class RecordingBell(InboxBell):
    def __init__(self) -> None:
        super().__init__()
        self.holds: list[float] = []

    def hold(self, seconds: float = HOLD_SECONDS) -> None:
        self.holds.append(seconds)
        super().hold(seconds)


def test_a_burst_batch_asks_the_worker_process_to_hold_off_a_small_one_does_not(
    tmp_path: Path,
) -> None:
    address = str(tmp_path / "bell.sock")
    remote, local = RecordingBell(), RecordingBell()
    webhooks = receiver.WebhookReceiver(load_settings(_env_file=None), make_engine("sqlite://"), bell=local)
    wakeup.relay(address, remote)
    webhooks.wake_worker_at(address)

    webhooks.ring_workers(1)
    wait_for("the ring relayed", lambda: remote.wait(0.05))
    assert remote.holds == [] and local.holds == [], "one webhook at a time is no burst"

    webhooks.ring_workers(receiver.BURST_BATCH)
    wait_for("the hold relayed", lambda: remote.holds)
    assert remote.holds == [HOLD_SECONDS] and local.holds == [HOLD_SECONDS]


def test_a_held_worker_claims_nothing_until_its_break_then_works_the_event_off(
    make_paywire_service: Callable[..., Service], sim: Sim, catalog: Catalog
) -> None:
    quiet_service = make_paywire_service(with_worker=False)
    clock = sim.client().v1.test_helpers.test_clocks.create(params={"frozen_time": 1_800_000_000})
    [stored] = wait_for("the event stored", lambda: inbox_rows(quiet_service, object_id=clock.id))
    worker = build_worker(quiet_service.settings, engine=quiet_service.engine, catalog=catalog, options=FAST_RETRY)
    worker.bell = InboxBell()
    worker.bell.hold(3600)  # a burst that never ends
    # Held 3 s in a row: the look at half a second has 2.5 s to see the event still waiting.
    worker.hold_policy = HoldPolicy(max_seconds=3.0, break_seconds=0.5)
    held_before = WORKER_HELD_SECONDS._value.get()
    thread = WorkerThread(worker).start()
    try:
        wait_for("the worker held off for half a second", lambda: WORKER_HELD_SECONDS._value.get() >= held_before + 0.5)
        row = inbox_row(quiet_service, stored.id)
        assert row is not None and row.state == "pending"

        processed = wait_for(
            "the event processed in the worker's break",
            lambda: (r := inbox_row(quiet_service, stored.id)) is not None and r.state == "processed" and r,
        )
        assert processed.attempts == 1
    finally:
        thread.stop()
