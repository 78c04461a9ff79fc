"""The worker against stripesim over HTTP: events stored once and processed once, unknown
types ignored, failing re-reads retried with backoff until processed or dead, and a
mirror that ends equal to Stripe whatever the delivery order."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
import stripe

from paywire.catalog import Catalog
from paywire.db.leases import RetryPolicy
from paywire.db.repositories import invoices, subscriptions, test_clocks
from paywire.events import inbox
from paywire.events.worker import WorkerOptions, WorkerThread
from tests.paywire.conftest import Service
from tests.paywire.events.conftest import (
    Shop,
    deliveries_settled,
    event_payload,
    inbox_drained,
    inbox_row,
    inbox_rows,
    metric,
    post_webhook,
    secret_of,
    sign,
    wait_for,
)
from tests.support.stripesim import Sim

CLOCK_TIME = 1_800_000_000


def worker_lines(caplog: pytest.LogCaptureFixture, event_id: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "paywire.events.worker" and f"event={event_id} " in r.getMessage()
    ]


def wait_for_processed_line(caplog: pytest.LogCaptureFixture, event_id: str) -> None:
    """The worker logs an event's outcome after its commit: a row seen processed may not have
    its line yet."""
    wait_for(
        "the worker's line for the event",
        lambda: any("outcome=processed" in line for line in worker_lines(caplog, event_id)),
    )


def clock_event_id(sim: Sim, clock_id: str) -> str:
    events = sim.client().v1.events.list(params={"type": "test_helpers.test_clock.created"})
    [event] = [e for e in events.data if e.data.object.id == clock_id]
    return str(event.id)


def test_an_event_from_stripesim_is_stored_once_and_mirrored(
    paywire_service: Service, sim: Sim, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="paywire.events.worker"):
        clock = sim.client().v1.test_helpers.test_clocks.create(params={"frozen_time": CLOCK_TIME})
        [row] = wait_for("the clock event processed", lambda: inbox_rows(paywire_service, state="processed"))
        wait_for_processed_line(caplog, row.id)

    assert (row.type, row.object_id, row.attempts) == ("test_helpers.test_clock.created", clock.id, 1)
    with paywire_service.sessions() as session:
        mirrored = test_clocks.find(session, clock.id)
        assert mirrored is not None and mirrored.frozen_time == CLOCK_TIME
    [line] = worker_lines(caplog, row.id)
    for part in (f"type={row.type}", f"object={clock.id}", "outcome=processed", "duration_ms="):
        assert part in line


def test_an_event_delivered_five_times_is_stored_and_processed_once(
    paywire_service: Service, sim: Sim, caplog: pytest.LogCaptureFixture
) -> None:
    sim.control("faults", {"webhooks": {"duplicate_rate": 1.0}})
    duplicates_before = metric(paywire_service, "paywire_webhooks_duplicates_total")
    with caplog.at_level(logging.INFO, logger="paywire.events.worker"):
        clock = sim.client().v1.test_helpers.test_clocks.create(params={"frozen_time": CLOCK_TIME})
        event_id = clock_event_id(sim, clock.id)

        def delivered_twice() -> bool:
            attempts = sim.get("webhooks/attempts")["data"]
            return len([a for a in attempts if a["event"] == event_id and a["ok"]]) == 2

        wait_for("stripesim's two deliveries", delivered_twice)
        # Three more deliveries of one exact payload and signature, as a retrying sender would.
        event = sim.client().v1.events.retrieve(event_id).to_dict()
        payload = json.dumps(event).encode()
        signature = sign(payload, secret_of(paywire_service))
        answers = [post_webhook(paywire_service, payload, signature).status_code for _ in range(3)]
        wait_for("the event processed", lambda: inbox_rows(paywire_service, id=event_id, state="processed"))
        wait_for_processed_line(caplog, event_id)

    assert answers == [200, 200, 200]
    [row] = inbox_rows(paywire_service, id=event_id)
    assert (row.state, row.attempts) == ("processed", 1)
    assert metric(paywire_service, "paywire_webhooks_duplicates_total") == duplicates_before + 4
    assert len(worker_lines(caplog, event_id)) == 1, "processed exactly once"


@pytest.mark.parametrize("source", ["stripesim", "signed_by_test"])
def test_an_event_type_without_a_handler_is_ignored_and_counted(
    paywire_service: Service, sim: Sim, source: str
) -> None:
    if source == "stripesim":
        event_type = "product.created"
        before = metric(paywire_service, "paywire_webhooks_unhandled_total", type=event_type)
        product = sim.client().v1.products.create(params={"name": "Not for paywire"})
        [row] = wait_for(
            "the product event worked off", lambda: inbox_rows(paywire_service, object_id=product.id, state="ignored")
        )
    else:
        event_type = "paywire.test.unknown"
        before = metric(paywire_service, "paywire_webhooks_unhandled_total", type=event_type)
        payload = event_payload("evt_unknown_type", event_type)
        assert post_webhook(paywire_service, payload, sign(payload, secret_of(paywire_service))).status_code == 200
        [row] = wait_for(
            "the event worked off", lambda: inbox_rows(paywire_service, id="evt_unknown_type", state="ignored")
        )
    assert row.type == event_type and row.attempts == 1 and row.last_error is None
    assert metric(paywire_service, "paywire_webhooks_unhandled_total", type=event_type) == before + 1


@pytest.fixture
def quiet_service(make_paywire_service: Callable[..., Service]) -> Service:
    """No worker of its own, and no SDK retries: each Stripe 500 fails one attempt."""
    return make_paywire_service(with_worker=False, PAYWIRE_STRIPE_MAX_NETWORK_RETRIES=0)


def test_a_failing_re_read_is_retried_with_backoff_then_processed(
    quiet_service: Service,
    sim: Sim,
    catalog: Catalog,
    start_worker: Callable[..., WorkerThread],
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = sim.client().v1.test_helpers.test_clocks.create(params={"frozen_time": CLOCK_TIME})
    [stored] = wait_for("the event stored", lambda: inbox_rows(quiet_service, object_id=clock.id))
    failed_before = metric(quiet_service, "paywire_webhooks_failed_total", type=stored.type)
    sim.control("faults", {"api": {"fail_next_500": 3}})

    with caplog.at_level(logging.INFO, logger="paywire.events.worker"):
        start_worker(quiet_service, catalog)
        row = wait_for(
            "the event processed",
            lambda: (r := inbox_row(quiet_service, stored.id)) is not None and r.state == "processed" and r,
        )
        wait_for_processed_line(caplog, stored.id)

    assert row.attempts == 4
    assert row.last_error is not None and "StripeUnavailable" in row.last_error
    outcomes = [line.split("outcome=")[1].split()[0] for line in worker_lines(caplog, stored.id)]
    assert outcomes == ["failed", "failed", "failed", "processed"]
    assert metric(quiet_service, "paywire_webhooks_failed_total", type=stored.type) == failed_before + 3
    with quiet_service.sessions() as session:
        assert test_clocks.find(session, clock.id) is not None


def test_an_event_failing_past_the_bound_is_dead_lettered(
    quiet_service: Service, sim: Sim, catalog: Catalog, start_worker: Callable[..., WorkerThread]
) -> None:
    clock = sim.client().v1.test_helpers.test_clocks.create(params={"frozen_time": CLOCK_TIME})
    [stored] = wait_for("the event stored", lambda: inbox_rows(quiet_service, object_id=clock.id))
    dead_before = metric(quiet_service, "paywire_webhooks_dead_total", type=stored.type)
    sim.control("faults", {"api": {"fail_next_500": 1000}})
    options = WorkerOptions(batch_size=5, lease_seconds=30, poll_interval=0.05, retry=RetryPolicy(0.05, 0.2, 4))

    start_worker(quiet_service, catalog, options)
    row = wait_for(
        "the event dead-lettered",
        lambda: (r := inbox_row(quiet_service, stored.id)) is not None and r.state == "dead" and r,
    )
    sim.control("faults", {"clear": True})

    assert row.attempts == 4 and "StripeUnavailable" in (row.last_error or "")
    assert metric(quiet_service, "paywire_webhooks_dead_total", type=stored.type) == dead_before + 1
    with quiet_service.sessions() as session:
        assert test_clocks.find(session, clock.id) is None


def mirror_matches_stripe(service: Service, client: stripe.StripeClient, subscription_id: str) -> dict[str, Any]:
    """What differs between the mirror and Stripe's current subscription (empty: equal)."""
    fresh = client.v1.subscriptions.retrieve(subscription_id).to_dict()
    with service.sessions() as session:
        row = subscriptions.find(session, subscription_id)
        if row is None:
            return {"row": "missing"}
        mirrored = {
            "status": row.status,
            "cancel_at_period_end": row.cancel_at_period_end,
            "quantity": row.quantity,
            "current_period_end": row.current_period_end,
            "items": sorted((i.id, i.price_id, i.quantity) for i in row.items),
            "plan": (row.plan, row.interval),
        }
        stripe_invoices = client.v1.invoices.list(params={"subscription": subscription_id}).data
        invoice_states = {
            i.id: (invoices.find(session, i.id).status if invoices.find(session, i.id) else None)
            for i in stripe_invoices
        }
    items = fresh["items"]["data"]
    expected = {
        "status": fresh["status"],
        "cancel_at_period_end": fresh["cancel_at_period_end"],
        "quantity": sum(i["quantity"] for i in items),
        "current_period_end": min(i["current_period_end"] for i in items),
        "items": sorted((i["id"], i["price"]["id"], i["quantity"]) for i in items),
        "plan": ("pro", "month"),
    }
    differences = {k: (mirrored[k], v) for k, v in expected.items() if mirrored[k] != v}
    for invoice in stripe_invoices:
        if invoice_states[invoice.id] != invoice.status:
            differences[invoice.id] = (invoice_states[invoice.id], invoice.status)
    return differences


def test_shuffled_and_duplicated_deliveries_converge_to_stripes_state(paywire_service: Service, sim: Sim) -> None:
    client = sim.client()
    shop = Shop(paywire_service, sim, "user_reorder")
    session_id = shop.checkout({"plan": "pro", "interval": "month", "quantity": 2})
    sim.control("faults", {"webhooks": {"reorder_window_ms": 500, "duplicate_rate": 0.5}})
    assert shop.pay(session_id).status_code < 400
    subscription_id = client.v1.checkout.sessions.retrieve(session_id).subscription
    assert isinstance(subscription_id, str)
    item_id = client.v1.subscriptions.retrieve(subscription_id)["items"].data[0].id
    for change in (
        {"items": [{"id": item_id, "quantity": 3}]},
        {"cancel_at_period_end": True},
        {"items": [{"id": item_id, "quantity": 5}]},
        {"metadata": {"note": "changed"}},
        {"cancel_at_period_end": False},
        {"items": [{"id": item_id, "quantity": 4}]},
    ):
        client.v1.subscriptions.update(subscription_id, params=change)

    def converged() -> bool:
        return (
            deliveries_settled(sim)
            and inbox_drained(paywire_service)
            and not mirror_matches_stripe(paywire_service, client, subscription_id)
        )

    wait_for("the mirror to equal Stripe", converged, timeout=60)
    with paywire_service.sessions() as session:
        row = subscriptions.find(session, subscription_id)
        assert row is not None and (row.quantity, row.cancel_at_period_end, row.status) == (4, False, "active")
    assert len(inbox_rows(paywire_service, object_id=subscription_id)) >= 7


def test_the_inbox_depth_gauge_follows_events_waiting(
    quiet_service: Service, sim: Sim, catalog: Catalog, start_worker: Callable[..., WorkerThread]
) -> None:
    client = sim.client()
    clocks = [client.v1.test_helpers.test_clocks.create(params={"frozen_time": CLOCK_TIME}) for _ in range(3)]
    wait_for("three events stored", lambda: len(inbox_rows(quiet_service, state="pending")) == 3)
    # Each first attempt fails, so the events wait out a backoff long enough to be seen.
    sim.control("faults", {"api": {"fail_next_500": 3}})
    options = WorkerOptions(poll_interval=0.05, retry=RetryPolicy(3.0, 3.0, 5), depth_interval=0.05)

    start_worker(quiet_service, catalog, options)

    wait_for("depth 3 while they back off", lambda: metric(quiet_service, "paywire_inbox_depth") == 3)
    wait_for("depth 0 once processed", lambda: metric(quiet_service, "paywire_inbox_depth") == 0, timeout=20)
    assert {r.object_id for r in inbox_rows(quiet_service, state="processed")} == {c.id for c in clocks}


def test_events_claimed_by_a_worker_that_died_are_taken_over(
    quiet_service: Service, sim: Sim, catalog: Catalog, start_worker: Callable[..., WorkerThread]
) -> None:
    clock = sim.client().v1.test_helpers.test_clocks.create(params={"frozen_time": CLOCK_TIME})
    [stored] = wait_for("the event stored", lambda: inbox_rows(quiet_service, object_id=clock.id))
    with quiet_service.sessions() as session:
        # A worker claims the event and dies before finishing it.
        [claimed] = inbox.claim_batch(session, worker_id="dead-worker", limit=1, lease_seconds=0.5)
    assert claimed.id == stored.id

    start_worker(quiet_service, catalog, WorkerOptions(lease_seconds=2, poll_interval=0.05))
    row = wait_for(
        "the event taken over and processed",
        lambda: (r := inbox_row(quiet_service, stored.id)) is not None and r.state == "processed" and r,
    )

    assert row.attempts == 2
    assert "lease expired" in (row.last_error or "")
    with quiet_service.sessions() as session:
        assert test_clocks.find(session, clock.id) is not None
