"""Coalescing and the re-reads the worker does not need, through stripesim: many waiting
events about one object cost one re-read (when their payloads cannot be applied), and an event
already covered by a later read costs none; the version rule keeps invoices from going back."""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable

import pytest

from paywire.catalog import Catalog
from paywire.db.repositories import invoices
from paywire.mirror import LiveReads, MirrorContext, read_version
from paywire.mirror import invoices as mirrored_invoices
from paywire.stripe import Kind, StripeGateway
from tests.paywire.conftest import Service
from tests.paywire.events.conftest import (
    CountingGateway,
    Shop,
    deliveries_settled,
    inbox_drained,
    inbox_rows,
    wait_for,
)
from tests.paywire.events.test_worker import mirror_matches_stripe
from tests.support.stripesim import Sim


def settled(service: Service, sim: Sim) -> bool:
    return deliveries_settled(sim) and inbox_drained(service)


def test_waiting_events_about_one_object_are_handled_with_one_re_read(
    make_paywire_service: Callable[..., Service],
    sim: Sim,
    counted_worker: Callable[[Service], CountingGateway],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Clock skew 0: one process, one clock; the test controls what is "after" exactly. Re-reads
    # only (the payload rule off): what the worker does when no payload is provably the newest
    # (tests/paywire/events/test_payload_rule.py has the rule's own).
    service = make_paywire_service(with_worker=False, PAYWIRE_WORKER_CLOCK_SKEW=0, PAYWIRE_APPLY_EVENT_PAYLOADS=False)
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
        # The worker logs each event's outcome after its commit: a drained inbox can come first.
        wait_for("every event's line", lambda: len(_lines_about(caplog, subscription_id)) >= len(about_subscription))

    # The group about the subscription, and checkout.session.completed (which also names
    # it), share one read: whichever comes second finds a read started after it arrived.
    assert gateway.reads[subscription_id] == 1
    assert {invoice: gateway.reads[invoice] for invoice in invoice_events} == dict.fromkeys(invoice_events, 1)
    assert not mirror_matches_stripe(service, client, subscription_id)
    lines = _lines_about(caplog, subscription_id)
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
    fresh = gateway.retrieve(Kind.INVOICE, invoice_id)
    stale = {**fresh, "status": "open", "amount_paid": 0}

    with service.sessions() as session:
        ctx = MirrorContext(session, LiveReads(gateway), catalog, service.settings)
        newer = read_version()
        assert mirrored_invoices.save(ctx, fresh, newer).note == f"{invoice_id} paid"
        assert "kept" in mirrored_invoices.save(ctx, stale, newer - 1).note, "the slower, older read loses"
        session.commit()
        row = invoices.find(session, invoice_id)
        assert row is not None and (row.status, row.stripe_version) == ("paid", newer)
        assert mirrored_invoices.save(ctx, fresh, newer + 1).note == f"{invoice_id} paid", (
            "an equal or newer read is written"
        )


def _lines_about(caplog: pytest.LogCaptureFixture, object_id: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if f"object={object_id} " in r.getMessage()]
