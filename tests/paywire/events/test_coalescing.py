"""Coalescing and the re-reads the worker does not need, through stripesim: many waiting
events about one object cost one re-read, and an event already covered by a later read
costs none; the version rule keeps invoices from going back."""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from paywire.catalog import Catalog
from paywire.db.repositories import invoices
from paywire.events.mirror import HandlerContext, read_version, save_invoice
from paywire.events.worker import WorkerThread, build_worker
from paywire.stripe import StripeGateway
from tests.paywire.conftest import Service
from tests.paywire.events.conftest import FAST_RETRY, Shop, deliveries_settled, inbox_drained, inbox_rows, wait_for
from tests.paywire.events.test_worker import mirror_matches_stripe
from tests.support.stripesim import Sim


class CountingGateway(StripeGateway):
    """The real gateway, counting the re-reads the worker asks for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reads: Counter[str] = Counter()

    def retrieve_subscription(self, subscription_id: str, *, expand: Sequence[str] = ()) -> dict[str, Any]:
        self.reads[subscription_id] += 1
        return super().retrieve_subscription(subscription_id, expand=expand)

    def retrieve_invoice(self, invoice_id: str, *, expand: Sequence[str] = ()) -> dict[str, Any]:
        self.reads[invoice_id] += 1
        return super().retrieve_invoice(invoice_id, expand=expand)


@pytest.fixture
def counted_worker(catalog: Catalog) -> Iterator[Callable[[Service], CountingGateway]]:
    running: list[WorkerThread] = []

    def start(service: Service) -> CountingGateway:
        gateway = CountingGateway.from_settings(service.settings)
        assert isinstance(gateway, CountingGateway)
        worker = build_worker(
            service.settings, engine=service.engine, gateway=gateway, catalog=catalog, options=FAST_RETRY
        )
        running.append(WorkerThread(worker).start())
        return gateway

    yield start
    for thread in running:
        thread.stop()


def settled(service: Service, sim: Sim) -> bool:
    return deliveries_settled(sim) and inbox_drained(service)


def test_waiting_events_about_one_object_are_handled_with_one_re_read(
    make_paywire_service: Callable[..., Service],
    sim: Sim,
    counted_worker: Callable[[Service], CountingGateway],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Clock skew 0: one process, one clock; the test controls what is "after" exactly.
    service = make_paywire_service(with_worker=False, PAYWIRE_WORKER_CLOCK_SKEW=0)
    client = sim.client()
    shop = Shop(service, sim, "user_burst")
    session_id = shop.checkout({"plan": "pro", "interval": "month", "quantity": 1})
    assert shop.pay(session_id).status_code == 200
    subscription_id = client.v1.checkout.sessions.retrieve(session_id).subscription
    assert isinstance(subscription_id, str)
    item_id = client.v1.subscriptions.retrieve(subscription_id)["items"].data[0].id
    for quantity in (2, 3, 4, 5, 6):
        client.v1.subscriptions.update(subscription_id, params={"items": [{"id": item_id, "quantity": quantity}]})
    wait_for("every delivery stored", lambda: deliveries_settled(sim))
    waiting = inbox_rows(service, state="pending")
    about_subscription = [r for r in waiting if r.object_id == subscription_id]
    assert len(about_subscription) >= 6
    invoice_events = Counter(r.object_id for r in waiting if r.type.startswith("invoice."))

    with caplog.at_level(logging.INFO, logger="paywire.events.worker"):
        gateway = counted_worker(service)
        wait_for("the inbox worked off", lambda: settled(service, sim))

    # The group about the subscription, and checkout.session.completed (which also names
    # it), share one read: whichever comes second finds a read started after it arrived.
    assert gateway.reads[subscription_id] == 1
    assert {invoice: gateway.reads[invoice] for invoice in invoice_events} == dict.fromkeys(invoice_events, 1)
    assert not mirror_matches_stripe(service, client, subscription_id)
    lines = [r.getMessage() for r in caplog.records if f"object={subscription_id} " in r.getMessage()]
    assert len(lines) == len(about_subscription), "one log line per event"
    assert {re.search(r"group=(\d+)", line).group(1) for line in lines} == {str(len(about_subscription))}  # type: ignore[union-attr]
    assert {r.attempts for r in inbox_rows(service)} == {1}

    # An event received after that read is not covered by it: it is re-read.
    client.v1.subscriptions.update(subscription_id, params={"cancel_at_period_end": True})
    wait_for(
        "the change mirrored",
        lambda: settled(service, sim) and not mirror_matches_stripe(service, client, subscription_id),
    )
    assert gateway.reads[subscription_id] == 2


def test_an_older_invoice_read_never_replaces_a_newer_one(
    make_paywire_service: Callable[..., Service], sim: Sim, catalog: Catalog, gateway: StripeGateway
) -> None:
    service = make_paywire_service(with_worker=False)
    shop = Shop(service, sim, "user_invoice_versions")
    session_id = shop.checkout({"plan": "basic", "interval": "month"})
    assert shop.pay(session_id).status_code == 200
    subscription_id = sim.client().v1.checkout.sessions.retrieve(session_id).subscription
    invoice_id = sim.client().v1.subscriptions.retrieve(str(subscription_id)).latest_invoice
    assert isinstance(invoice_id, str)
    fresh = gateway.retrieve_invoice(invoice_id)
    stale = {**fresh, "status": "open", "amount_paid": 0}

    with service.sessions() as session:
        ctx = HandlerContext(session, gateway, catalog, service.settings)
        newer = read_version()
        assert save_invoice(ctx, fresh, newer) == f"{invoice_id} paid"
        assert "kept" in save_invoice(ctx, stale, newer - 1), "the slower, older read loses"
        session.commit()
        row = invoices.find(session, invoice_id)
        assert row is not None and (row.status, row.stripe_version) == ("paid", newer)
        assert save_invoice(ctx, fresh, newer + 1) == f"{invoice_id} paid", "an equal or newer read is written"
