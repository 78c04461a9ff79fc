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
from paywire.events.outbox import KnownFacts
from paywire.events.reads import BatchReads
from paywire.events.worker import WorkerOptions, WorkerThread, build_worker
from paywire.metrics import WEBHOOK_BATCH_FALLBACKS
from paywire.stripe import StripeGateway, StripeUnavailable
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

    def retrieve_subscription(self, subscription_id: str, *, expand: Sequence[str] = ()) -> dict[str, Any]:
        with self._lock:
            self.reads[subscription_id] += 1
            self.threads.add(threading.current_thread().name)
            first = self.reads[subscription_id] == 1
        if first and subscription_id in self.broken:
            raise StripeUnavailable("Stripe answered 500 (simulated in the test)")
        return super().retrieve_subscription(subscription_id, expand=expand)


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
    service = make_paywire_service(with_worker=False, PAYWIRE_WORKER_CLOCK_SKEW=0)
    subscription_ids = _subscribe(service, sim, [f"user_batch_{n}" for n in range(4)])
    gateway = FlakyGateway.from_settings(service.settings)
    assert isinstance(gateway, FlakyGateway)

    with caplog.at_level(logging.INFO, logger="paywire.events.worker"):
        flaky_worker(service, gateway)
        wait_for("the inbox worked off", lambda: deliveries_settled(sim) and inbox_drained(service))

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
    service = make_paywire_service(with_worker=False, PAYWIRE_WORKER_CLOCK_SKEW=0)
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
    # The broken one failed once (its error recorded), then was read again and applied.
    assert gateway.reads[broken] == 2
    retried = [r for r in inbox_rows(service) if r.object_id == broken]
    assert retried and {r.attempts for r in retried} == {2}
    assert all("StripeUnavailable" in (r.last_error or "") for r in retried)
    for subscription_id in subscription_ids:
        assert not mirror_matches_stripe(service, sim.client(), subscription_id)


def test_a_failed_read_is_kept_and_raised_to_each_handler_that_needs_it() -> None:
    calls: list[str] = []

    class Down:
        def retrieve_invoice(self, invoice_id: str) -> dict[str, Any]:
            calls.append(invoice_id)
            raise StripeUnavailable("down")

    reads = BatchReads(Down())  # type: ignore[arg-type]
    reads.prefetch([("retrieve_invoice", "in_1", ()), ("retrieve_invoice", "in_1", ())])
    for _ in range(2):
        with pytest.raises(StripeUnavailable):
            reads.get("retrieve_invoice", "in_1")
    assert calls == ["in_1"] and reads.made == 1
    with pytest.raises(ValueError, match="not a read"):
        reads.get("create_customer", "cus_1")


def test_known_facts_count_only_once_committed() -> None:
    known = KnownFacts(limit=2)
    known.add_pending("a", new=True)
    assert "a" not in known, "not known before its transaction commits"
    known.rolled_back()
    assert known.committed() == 0 and "a" not in known, "a rolled-back fact is forgotten"
    known.add_pending("a", new=True)
    known.add_pending("b", new=False)
    assert known.committed() == 1, "b was in the outbox already: known, but not new"
    assert "a" in known and "b" in known
    known.clear()
    for key in ("a", "b"):
        known.add_pending(key, new=True)
        known.committed()
    known.add_pending("c", new=True)
    known.committed()
    assert "a" not in known and {"b", "c"} <= {k for k in "abc" if k in known}, "bounded: oldest dropped"
    known.clear()
    assert "b" not in known
