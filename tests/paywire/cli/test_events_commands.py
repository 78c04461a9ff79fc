"""`paywire events list` and `paywire events replay` as real processes, on events made to
fail (Stripe answering 500 to the worker's re-read) until they back off or are dead-lettered."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from paywire.db.repositories import test_clocks
from paywire.events.worker import build_worker
from tests.paywire.conftest import Service
from tests.paywire.events.conftest import inbox_row, inbox_rows, wait_for
from tests.paywire.events.recovery_support import run_paywire
from tests.support.stripesim import Sim

CLOCK_TIME = 1_800_000_000
StartWorker = Callable[[Service], None]


@pytest.fixture
def start_worker() -> Iterator[StartWorker]:
    """The real worker in a thread, with the service's own settings (retries, bounds)."""
    stops: list[tuple[threading.Event, threading.Thread]] = []

    def start(service: Service) -> None:
        worker = build_worker(service.settings, engine=service.engine)
        stop = threading.Event()
        thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
        thread.start()
        stops.append((stop, thread))

    yield start
    for stop, thread in stops:
        stop.set()
        thread.join(15)


def failing_clock_event(service: Service, sim: Sim, failures: int, start_worker: StartWorker) -> str:
    """A stored test-clock event whose first `failures` re-reads get a 500 from Stripe."""
    clock = sim.client().v1.test_helpers.test_clocks.create(params={"frozen_time": CLOCK_TIME})
    [stored] = wait_for("the event stored", lambda: inbox_rows(service, object_id=clock.id))
    sim.control("faults", {"api": {"fail_next_500": failures}})
    start_worker(service)
    return stored.id


def test_dead_letters_are_listed_then_replayed_and_processed(
    make_paywire_service: Callable[..., Service], sim: Sim, start_worker: StartWorker
) -> None:
    service = make_paywire_service(
        with_worker=False,
        PAYWIRE_STRIPE_MAX_NETWORK_RETRIES=0,
        PAYWIRE_WORKER_MAX_ATTEMPTS=2,
        PAYWIRE_WORKER_RETRY_BASE=0.1,
    )
    event_id = failing_clock_event(service, sim, 2, start_worker)
    wait_for("the event dead-lettered", lambda: (r := inbox_row(service, event_id)) and r.state == "dead")

    listed = run_paywire(service, sim, "events", "list", "--state", "dead")

    assert listed.returncode == 0, listed.stderr
    header, row, *_ = listed.stdout.splitlines()
    assert header.split()[:4] == ["ID", "TYPE", "STATE", "ATTEMPTS"]
    assert row.split()[:4] == [event_id, "test_helpers.test_clock.created", "dead", "2"]
    assert "StripeUnavailable" in row
    assert "1 event(s) shown; inbox:" in listed.stdout and "dead 1" in listed.stdout
    others = run_paywire(service, sim, "events", "list", "--state", "failed", "--type", "invoice.*")
    assert others.returncode == 0 and "0 event(s) shown" in others.stdout and event_id not in others.stdout

    replayed = run_paywire(service, sim, "events", "replay", "--dead")

    assert replayed.returncode == 0, replayed.stderr
    assert f"reset {event_id} test_helpers.test_clock.created (was dead, 2 attempt(s))" in replayed.stdout
    assert "1 event(s) reset to pending" in replayed.stdout
    row_after = wait_for(
        "the replayed event processed", lambda: (r := inbox_row(service, event_id)) and r.state == "processed" and r
    )
    assert row_after.attempts == 1, "a fresh set of attempts"
    assert "StripeUnavailable" in (row_after.last_error or ""), "the last error is kept for the record"
    with service.sessions() as session:
        assert test_clocks.find(session, inbox_rows(service, id=event_id)[0].object_id or "") is not None


def test_failed_events_and_single_events_are_replayed_and_bad_ids_refused(
    make_paywire_service: Callable[..., Service], sim: Sim, start_worker: StartWorker
) -> None:
    service = make_paywire_service(
        with_worker=False,
        PAYWIRE_STRIPE_MAX_NETWORK_RETRIES=0,
        PAYWIRE_WORKER_MAX_ATTEMPTS=5,
        PAYWIRE_WORKER_RETRY_BASE=600,  # a failed event waits minutes for its next attempt
    )
    event_id = failing_clock_event(service, sim, 1, start_worker)
    wait_for("the event failed", lambda: (r := inbox_row(service, event_id)) and r.state == "failed")
    listed = run_paywire(service, sim, "events", "list", "--state", "failed")
    assert listed.returncode == 0 and event_id in listed.stdout and "failed 1" in listed.stdout

    replayed = run_paywire(service, sim, "events", "replay", "--failed")

    assert replayed.returncode == 0, replayed.stderr
    assert f"reset {event_id}" in replayed.stdout and "(was failed, 1 attempt(s))" in replayed.stdout
    wait_for(
        "processed at once, not after the backoff",
        lambda: (r := inbox_row(service, event_id)) and r.state == "processed",
    )

    first_processed_at = inbox_row(service, event_id).processed_at  # type: ignore[union-attr]
    again = run_paywire(service, sim, "events", "replay", event_id, "evt_not_there")

    assert again.returncode == 1
    assert f"reset {event_id} test_helpers.test_clock.created (was processed, 1 attempt(s))" in again.stdout
    assert "not reset evt_not_there: not in the inbox" in again.stderr
    wait_for(
        "processed again",
        lambda: (
            (r := inbox_row(service, event_id))
            and r.state == "processed"
            and r.processed_at is not None
            and first_processed_at is not None
            and r.processed_at > first_processed_at
        ),
    )
    usage = run_paywire(service, sim, "events", "replay")
    assert usage.returncode == 2 and "--failed" in usage.stderr
