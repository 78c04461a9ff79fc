"""Stripe outages during the worker's re-reads, through stripesim's API faults: timeouts
(every API request delayed past the gateway's timeout) and rate limiting (429 beyond the
gateway's own backoff) are retried with backoff and end processed once Stripe answers, or
dead after the bound; both are visible in the inbox and on /metrics."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from paywire.catalog import Catalog
from paywire.db.leases import RetryPolicy
from paywire.db.repositories import test_clocks
from paywire.events.worker import WorkerOptions, WorkerThread
from tests.paywire.conftest import Service
from tests.paywire.events.conftest import inbox_row, inbox_rows, metric, wait_for
from tests.support.stripesim import Sim

CLOCK_TIME = 1_800_000_000
RETRY_FAST = WorkerOptions(batch_size=5, lease_seconds=30, poll_interval=0.05, retry=RetryPolicy(0.2, 0.5, 20))


@pytest.fixture
def impatient_service(make_paywire_service: Callable[..., Service]) -> Service:
    """No worker of its own; the gateway waits 0.5 s for Stripe, and neither the SDK nor
    the gateway retries much: each outage shows in the inbox."""
    return make_paywire_service(
        with_worker=False,
        PAYWIRE_STRIPE_TIMEOUT=0.5,
        PAYWIRE_STRIPE_MAX_NETWORK_RETRIES=0,
        PAYWIRE_STRIPE_RATE_LIMIT_RETRIES=1,
        PAYWIRE_STRIPE_RATE_LIMIT_BACKOFF=0.01,
    )


def stored_clock_event(service: Service, sim: Sim) -> tuple[str, str]:
    clock = sim.client().v1.test_helpers.test_clocks.create(params={"frozen_time": CLOCK_TIME})
    [stored] = wait_for("the event stored", lambda: inbox_rows(service, object_id=clock.id))
    return stored.id, clock.id


def test_re_reads_timing_out_are_retried_and_processed_once_stripe_answers(
    impatient_service: Service, sim: Sim, catalog: Catalog, start_worker: Callable[..., WorkerThread]
) -> None:
    event_id, clock_id = stored_clock_event(impatient_service, sim)
    connection_errors = metric(impatient_service, "paywire_stripe_api_errors_total", type="connection")
    failed = metric(impatient_service, "paywire_webhooks_failed_total", type="test_helpers.test_clock.created")
    sim.control("faults", {"api": {"delay_ms": 2000}})

    start_worker(impatient_service, catalog, RETRY_FAST)
    timed_out = wait_for(
        "two attempts timed out",
        lambda: (
            (r := inbox_row(impatient_service, event_id)) is not None and r.attempts >= 2 and r.state == "failed" and r
        ),
    )
    sim.control("faults", {"api": {"delay_ms": 0}})
    row = wait_for(
        "the event processed",
        lambda: (r := inbox_row(impatient_service, event_id)) is not None and r.state == "processed" and r,
    )

    assert "StripeUnavailable" in (timed_out.last_error or "") and "could not be reached" in (
        timed_out.last_error or ""
    )
    assert row.attempts >= 3 and row.last_error == timed_out.last_error, "the last failure is kept for the record"
    assert metric(impatient_service, "paywire_stripe_api_errors_total", type="connection") >= connection_errors + 2
    assert metric(impatient_service, "paywire_webhooks_failed_total", type=row.type) >= failed + 2
    with impatient_service.sessions() as session:
        assert test_clocks.find(session, clock_id) is not None


def test_rate_limiting_beyond_the_gateways_backoff_is_retried_by_the_inbox(
    impatient_service: Service, sim: Sim, catalog: Catalog, start_worker: Callable[..., WorkerThread]
) -> None:
    event_id, clock_id = stored_clock_event(impatient_service, sim)
    rate_limited = metric(impatient_service, "paywire_stripe_api_errors_total", type="rate_limit")
    # The gateway tries twice (one backoff): four 429s in a row fail at least one attempt
    # (the worker's other calls, e.g. its recovery scan, may take some of them).
    sim.control("faults", {"api": {"fail_next_429": 4}})

    start_worker(impatient_service, catalog, RETRY_FAST)
    row = wait_for(
        "the event processed",
        lambda: (r := inbox_row(impatient_service, event_id)) is not None and r.state == "processed" and r,
    )

    assert row.attempts >= 2 and "rate limiting" in (row.last_error or "")
    assert metric(impatient_service, "paywire_stripe_api_errors_total", type="rate_limit") >= rate_limited + 2
    with impatient_service.sessions() as session:
        assert test_clocks.find(session, clock_id) is not None


def test_an_outage_longer_than_the_bound_dead_letters_the_event_visibly(
    impatient_service: Service, sim: Sim, catalog: Catalog, start_worker: Callable[..., WorkerThread]
) -> None:
    event_id, _ = stored_clock_event(impatient_service, sim)
    dead = metric(impatient_service, "paywire_webhooks_dead_total", type="test_helpers.test_clock.created")
    sim.control("faults", {"api": {"delay_ms": 2000}})
    options = WorkerOptions(poll_interval=0.05, retry=RetryPolicy(0.05, 0.1, 3), depth_interval=0.05)

    start_worker(impatient_service, catalog, options)
    row = wait_for(
        "the event dead-lettered",
        lambda: (r := inbox_row(impatient_service, event_id)) is not None and r.state == "dead" and r,
    )
    sim.control("faults", {"clear": True})

    assert row.attempts == 3 and "could not be reached" in (row.last_error or "")
    assert metric(impatient_service, "paywire_webhooks_dead_total", type=row.type) == dead + 1
    wait_for("depth 0: a dead letter is not waiting", lambda: metric(impatient_service, "paywire_inbox_depth") == 0)
    with impatient_service.http() as http:
        assert http.get("/healthz").status_code == 200, "the service keeps answering through the outage"
