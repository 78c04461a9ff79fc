"""Helpers for the events pipeline's tests: signing like Stripe (tests only), polling the
inbox and the mirror with a deadline, reading /metrics over HTTP, driving checkout."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import stripe
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from paywire.catalog import Catalog
from paywire.db.models import WebhookEvent
from paywire.events.inbox import RetryPolicy
from paywire.events.worker import WorkerOptions, WorkerThread, build_worker
from paywire.stripe import Kind, StripeGateway
from tests.paywire.conftest import Service
from tests.support.processes import Process
from tests.support.stripesim import TEST_KEY, Sim

T = TypeVar("T")

DEADLINE_SECONDS = 60.0  # an upper bound for a loaded machine; met conditions return at once
# Fast retries, so a test of the backoff takes a second, not minutes.
FAST_RETRY = WorkerOptions(batch_size=10, lease_seconds=30, poll_interval=0.05, retry=RetryPolicy(0.2, 1.0, 6))


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = DEADLINE_SECONDS) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A Stripe-Signature header, computed with the SDK's own test helper."""
    return stripe.WebhookSignature.generate_signature_header(payload.decode("utf-8"), secret, timestamp)


def event_payload(event_id: str = "evt_test_1", type_: str = "test.unknown", **fields: Any) -> bytes:
    body = {
        "id": event_id,
        "object": "event",
        "api_version": stripe.api_version,
        "created": int(time.time()),
        "data": {"object": {"id": "obj_test_1", "object": "thing"}},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
    }
    body.update(fields)
    return json.dumps(body).encode()


def secret_of(service: Service) -> str:
    return service.settings.stripe_webhook_secrets[0].get_secret_value()


def post_webhook(service: Service, payload: bytes, signature: str | None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["stripe-signature"] = signature
    with service.http() as http:
        return http.post("/webhooks/stripe", content=payload, headers=headers)


def inbox_row(service: Service, event_id: str) -> WebhookEvent | None:
    with service.sessions() as session:
        return session.get(WebhookEvent, event_id)


def inbox_rows(service: Service, **where: Any) -> list[WebhookEvent]:
    with service.sessions() as session:
        query = select(WebhookEvent).order_by(WebhookEvent.received_at)
        for column, value in where.items():
            query = query.where(getattr(WebhookEvent, column) == value)
        return list(session.scalars(query))


def inbox_drained(service: Service) -> bool:
    return not any(r.state in ("pending", "processing", "failed") for r in inbox_rows(service))


def deliveries_settled(sim: Sim) -> bool:
    return sim.get("webhooks/attempts")["pending"] == 0


def metric(service: Service, name: str, **labels: str) -> float:
    """A sample from the service's /metrics page (0 if not exported yet)."""
    with service.http() as http:
        text = http.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


@dataclass
class Shop:
    """A user going through checkout against the running service."""

    service: Service
    sim: Sim
    user_id: str

    @property
    def headers(self) -> dict[str, str]:
        return self.service.headers_for(self.user_id, f"{self.user_id}@example.com")

    def checkout(self, body: dict[str, Any]) -> str:
        with self.service.http() as http:
            response = http.post("/api/checkout", json=body, headers=self.headers)
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    def pay(self, session_id: str, card: str = "4242424242424242") -> httpx.Response:
        return self.sim.complete_checkout(session_id, card)

    def billing(self) -> dict[str, Any]:
        with self.service.http() as http:
            response = http.get("/api/billing", headers=self.headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


@pytest.fixture
def start_worker() -> Iterator[Callable[..., WorkerThread]]:
    """Start the real worker in a thread with test options (e.g. fast retries) against a
    service started `with_worker=False`."""
    running: list[WorkerThread] = []

    def start(service: Service, catalog: Catalog, options: WorkerOptions = FAST_RETRY) -> WorkerThread:
        worker = build_worker(service.settings, engine=service.engine, catalog=catalog, options=options)
        thread = WorkerThread(worker).start()
        running.append(thread)
        return thread

    yield start
    for thread in running:
        thread.stop()


PAYWIRE = [sys.executable, "-m", "paywire.cli.main"]
WorkerSpawner = Callable[..., Process]


@pytest.fixture
def spawn_worker(tmp_path: Path) -> Iterator[WorkerSpawner]:
    """Start `paywire worker` as a real process against a service's database and stripesim:
    `spawn_worker(service, "name", PAYWIRE_X="…")`; killed at the end of the test."""
    running: list[Process] = []

    def spawn(service: Service, name: str, **env: str) -> Process:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "PAYWIRE_", "DATABASE_URL"))}
        base.update(
            STRIPE_SECRET_KEY=TEST_KEY,
            STRIPE_API_BASE=str(service.settings.stripe_api_base),
            DATABASE_URL=service.settings.database_url,
            PAYWIRE_WORKER_POLL_INTERVAL="0.05",
            PAYWIRE_LOG_LEVEL="INFO",
            PAYWIRE_RECOVERY_INTERVAL="0",
        )
        base.update(env)
        process = Process([*PAYWIRE, "worker"], tmp_path / f"{name}.log", env=base)
        running.append(process)
        return process

    yield spawn
    for process in running:
        process.stop(signal.SIGKILL)


def wait_started(workers: list[Process]) -> None:
    """Wait until each spawned worker has logged that it started (its signal handlers are then
    in place): starting one takes seconds on a loaded machine, and a worker still starting takes
    no part in a race. Fails at once, with its output, if one exits meanwhile."""

    def started() -> bool:
        dead = [w for w in workers if w.proc.poll() is not None]
        assert not dead, [w.output()[-2000:] for w in dead]
        return all(WORKER_STARTED.search(w.output()) for w in workers)

    wait_for("every worker started", started)


WORKER_STARTED = re.compile(r"paywire\.events\.worker worker \S+ started")


class CountingGateway(StripeGateway):
    """The real gateway, counting the worker's re-reads of subscriptions and invoices."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reads: Counter[str] = Counter()

    def retrieve(self, kind: Kind, object_id: str) -> dict[str, Any]:
        if kind in (Kind.SUBSCRIPTION, Kind.INVOICE):
            self.reads[object_id] += 1
        return super().retrieve(kind, object_id)


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
