"""Several `paywire worker` processes on one database (PostgreSQL: `FOR UPDATE SKIP LOCKED`
and per-object advisory locks; SQLite: one claiming UPDATE at a time), racing for a
backlog and for events arriving while they run: every event is processed exactly once
(counted by the workers' own log lines, one per processing), and the mirror equals Stripe."""

from __future__ import annotations

import re
import signal
from collections import Counter
from collections.abc import Callable

from paywire.catalog import Catalog
from tests.paywire.conftest import Service
from tests.paywire.events.conftest import WorkerSpawner, inbox_rows, wait_for, wait_started
from tests.paywire.events.scenario import (
    Activity,
    buy_pass,
    change_plan,
    change_seats,
    mirror_differences,
    set_cancel_at_period_end,
    sim_is_quiet,
    subscribe,
)
from tests.support.stripesim import Sim

WORKERS = 3
LINE = re.compile(r"webhook event=(\S+) .* outcome=(\w+) ")


def test_each_event_is_processed_exactly_once_by_one_of_several_worker_processes(
    make_paywire_service: Callable[..., Service], sim: Sim, catalog: Catalog, spawn_worker: WorkerSpawner
) -> None:
    service = make_paywire_service(with_worker=False)
    activity = Activity()
    client = sim.client()
    sim.control("faults", {"webhooks": {"duplicate_rate": 0.3, "reorder_window_ms": 200}})

    def business(first: int, last: int) -> None:
        for n in range(first, last):
            user = f"user_many_{n}"
            subscription_id = subscribe(service, sim, activity, user, "pro", "month", quantity=1)
            assert subscription_id is not None
            change_seats(client, subscription_id, 2 + n % 3)
            if n % 2:
                change_plan(client, subscription_id, "pro_year")
            set_cancel_at_period_end(client, subscription_id, n % 3 == 0)
        buy_pass(service, sim, activity, f"user_many_pass_{first}")

    business(0, 4)  # a backlog waiting before any worker starts
    workers = [
        spawn_worker(service, f"worker{n}", PAYWIRE_WORKER_BATCH="2", PAYWIRE_WORKER_RETRY_BASE="0.1")
        for n in range(WORKERS)
    ]
    wait_started(workers)  # all of them in the race (starting one takes seconds on a loaded machine)
    business(4, 8)  # and events arriving while they race

    def drained() -> bool:
        rows = inbox_rows(service)
        return sim_is_quiet(sim) and bool(rows) and all(r.state in ("processed", "ignored") for r in rows)

    wait_for("every event worked off", lambda: drained() or any(w.proc.poll() is not None for w in workers), 120)
    assert all(w.proc.poll() is None for w in workers), [w.output()[-2000:] for w in workers]
    # A worker logs a batch's lines after committing it, so a drained inbox can be ahead of
    # the logs: stop the workers (SIGTERM: each finishes and reports the batch in hand) and
    # read their output once they have exited.
    for worker in workers:
        worker.stop(signal.SIGTERM, timeout=60)
    assert [w.proc.returncode for w in workers] == [0] * WORKERS, [w.output()[-2000:] for w in workers]

    processed = Counter()
    by_worker = Counter()
    for n, worker in enumerate(workers):
        for event_id, outcome in LINE.findall(worker.output()):
            assert outcome in ("processed", "ignored"), f"{event_id}: {outcome}"
            processed[event_id] += 1
            by_worker[n] += 1
    rows = inbox_rows(service)
    unlisted = {r.id for r in rows} - set(processed)
    assert not unlisted, f"{len(unlisted)} stored events in no worker's log: {sorted(unlisted)[:5]}"
    assert set(processed) == {r.id for r in rows}, "every stored event, and nothing else"
    assert set(processed.values()) == {1}, [e for e, n in processed.items() if n > 1]
    assert {r.attempts for r in rows} == {1}
    assert len(by_worker) >= 2, f"the work was shared: {by_worker}"
    assert mirror_differences(service, sim, catalog, activity) == {}
