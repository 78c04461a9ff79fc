"""Batches through stripesim: one claim takes the waiting events of several objects, reads
each object from Stripe once (concurrently, before the transaction), and applies them all in
one transaction; if one group fails, the batch is redone group by group with the reads
already made, so the others are applied and only the bad one is retried."""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from paywire.catalog import Catalog
from paywire.events.reads import BatchReads
from paywire.events.worker import WorkerOptions, WorkerThread, build_worker
from paywire.metrics import WEBHOOK_BATCH_FALLBACKS
from paywire.stripe import Kind, StripeGateway, StripeUnavailable
from tests.paywire.conftest import Service
from tests.paywire.events.conftest import FAST_RETRY, Shop, deliveries_settled, inbox_drained, inbox_rows, wait_for
from tests.paywire.events.test_worker import mirror_matches_stripe
from tests.support.stripesim import Sim

BIG_BATCHES = WorkerOptions(
    batch_size=50, lease_seconds=30, poll_interval=0.05, retry=FAST_RETRY.retry, reread_threads=4
)


class FlakyGateway(StripeGateway):
    """The real gateway, counting subscription reads; the first read of `broken` fails as
    Stripe being down would."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reads: Counter[str] = Counter()
        self.broken: set[str] = set()
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def retrieve(self, kind: Kind, object_id: str) -> dict[str, Any]:
        if kind is not Kind.SUBSCRIPTION:
            return super().retrieve(kind, object_id)
        with self._lock:
            self.reads[object_id] += 1
            self.threads.add(threading.current_thread().name)
            first = self.reads[object_id] == 1
        if first and object_id in self.broken:
            raise StripeUnavailable("Stripe answered 500 (simulated in the test)")
        return super().retrieve(kind, object_id)


@pytest.fixture
def flaky_worker(catalog: Catalog) -> Iterator[Callable[[Service, FlakyGateway], None]]:
    running: list[WorkerThread] = []

    def start(service: Service, gateway: FlakyGateway) -> None:
        worker = build_worker(
            service.settings, engine=service.engine, gateway=gateway, catalog=catalog, options=BIG_BATCHES
        )
        running.append(WorkerThread(worker).start())

    yield start
    for thread in running:
        thread.stop()


def _subscribe(service: Service, sim: Sim, users: Sequence[str]) -> list[str]:
    """Checkouts paid with the worker stopped: their events wait in the inbox."""
    subscription_ids = []
    for user in users:
        shop = Shop(service, sim, user)
        session_id = shop.checkout({"plan": "pro", "interval": "month", "quantity": 1})
        assert shop.pay(session_id).status_code == 200
        subscription_id = sim.client().v1.checkout.sessions.retrieve(session_id).subscription
        assert isinstance(subscription_id, str)
        subscription_ids.append(subscription_id)
    wait_for("every delivery stored", lambda: deliveries_settled(sim))
    return subscription_ids


def _batch_sizes(caplog: pytest.LogCaptureFixture) -> list[int]:
    return [int(m.group(1)) for r in caplog.records if (m := re.search(r" batch=(\d+) ", r.getMessage()))]


def test_a_batch_reads_each_object_once_and_applies_all_of_them(
    make_paywire_service: Callable[..., Service],
    sim: Sim,
    flaky_worker: Callable[[Service, FlakyGateway], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Every group re-reads (the payload rule off, under which a checkout claimed with its
    # subscription's events reads nothing at all: test_worker_pass): each object once.
    service = make_paywire_service(with_worker=False, PAYWIRE_WORKER_CLOCK_SKEW=0, PAYWIRE_APPLY_EVENT_PAYLOADS=False)
    subscription_ids = _subscribe(service, sim, [f"user_batch_{n}" for n in range(4)])
    gateway = FlakyGateway.from_settings(service.settings)
    assert isinstance(gateway, FlakyGateway)

    with caplog.at_level(logging.INFO, logger="paywire.events.worker"):
        flaky_worker(service, gateway)
        wait_for("the inbox worked off", lambda: deliveries_settled(sim) and inbox_drained(service))
        # The worker logs each event's outcome after its commit: a drained inbox can come first.
        wait_for("every event's line", lambda: len(_batch_sizes(caplog)) >= len(inbox_rows(service)))

    assert max(_batch_sizes(caplog)) > 1, "the waiting objects were claimed and applied together"
    # checkout.session.completed and the subscription's own events share one read.
    assert {s: gateway.reads[s] for s in subscription_ids} == dict.fromkeys(subscription_ids, 1)
    assert any(name.startswith("paywire-reread") for name in gateway.threads), "reads made on the pool"
    for subscription_id in subscription_ids:
        assert not mirror_matches_stripe(service, sim.client(), subscription_id)
    assert {r.state for r in inbox_rows(service)} <= {"processed", "ignored"}
    assert {r.attempts for r in inbox_rows(service)} == {1}


def test_one_failing_group_is_retried_alone_and_the_rest_of_its_batch_applied(
    make_paywire_service: Callable[..., Service],
    sim: Sim,
    flaky_worker: Callable[[Service, FlakyGateway], None],
) -> None:
    # Every group re-reads (the payload rule off): the broken subscription's read is needed.
    service = make_paywire_service(with_worker=False, PAYWIRE_WORKER_CLOCK_SKEW=0, PAYWIRE_APPLY_EVENT_PAYLOADS=False)
    subscription_ids = _subscribe(service, sim, [f"user_batch_fail_{n}" for n in range(3)])
    broken = subscription_ids[1]
    gateway = FlakyGateway.from_settings(service.settings)
    assert isinstance(gateway, FlakyGateway)
    gateway.broken.add(broken)
    fallbacks_before = WEBHOOK_BATCH_FALLBACKS._value.get()

    flaky_worker(service, gateway)
    wait_for("the inbox worked off", lambda: deliveries_settled(sim) and inbox_drained(service))

    assert WEBHOOK_BATCH_FALLBACKS._value.get() > fallbacks_before, "the batch was redone group by group"
    healthy = [s for s in subscription_ids if s != broken]
    # Redone group by group with the reads already made: the healthy ones were read once.
    assert {s: gateway.reads[s] for s in healthy} == dict.fromkeys(healthy, 1)
    assert {r.attempts for r in inbox_rows(service) if r.object_id in healthy} == {1}
    # The broken one failed once (its error recorded), then was read again and applied: once
    # more when its two groups (its own events, and the checkout's that reads it) are claimed
    # together again, twice when the retry's jitter brings them to two claims.
    assert gateway.reads[broken] in (2, 3)
    retried = [r for r in inbox_rows(service) if r.object_id == broken]
    assert retried and {r.attempts for r in retried} == {2}
    assert all("StripeUnavailable" in (r.last_error or "") for r in retried)
    for subscription_id in subscription_ids:
        assert not mirror_matches_stripe(service, sim.client(), subscription_id)


def test_a_failed_read_is_kept_and_raised_to_each_handler_that_needs_it() -> None:
    calls: list[str] = []

    class Down:
        def retrieve(self, kind: Kind, object_id: str) -> dict[str, Any]:
            calls.append(object_id)
            raise StripeUnavailable("down")

    reads = BatchReads(Down())  # type: ignore[arg-type]
    reads.prefetch([(Kind.INVOICE, "in_1"), (Kind.INVOICE, "in_1")])
    for _ in range(2):
        with pytest.raises(StripeUnavailable):
            reads.read(Kind.INVOICE, "in_1")
    assert calls == ["in_1"] and reads.made == 1
