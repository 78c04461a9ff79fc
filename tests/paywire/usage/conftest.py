"""What the usage tests share: paywire with a service token and a quick sender, a Scale
subscriber on a test clock, and posting usage as a service does."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from sqlalchemy import func, select

from paywire.db.models import UsageRecord
from tests.paywire.billing.subscribers import Subscriber, wait_for
from tests.paywire.conftest import Service
from tests.support.processes import Process
from tests.support.stripesim import TEST_KEY

SERVICE_TOKEN = "metering-service-token-0123456789"
SERVICE_TOKENS = f"metering:{SERVICE_TOKEN}"
SERVICE = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
QUICK_SENDER = {
    "PAYWIRE_SERVICE_TOKENS": SERVICE_TOKENS,
    "PAYWIRE_USAGE_SEND_INTERVAL": 0.05,
    "PAYWIRE_USAGE_ERROR_POLL_INTERVAL": 0.2,
    "PAYWIRE_USAGE_RECONCILE_INTERVAL": 0,
    "PAYWIRE_USAGE_RATE_LIMIT": 1000,
    "PAYWIRE_USAGE_LEASE_SECONDS": 2,  # a killed sender's events are taken over soon
}


@pytest.fixture
def usage_service(make_paywire_service: Callable[..., Service]) -> Service:
    """paywire with a service allowed to record usage, and a sender that looks often."""
    return make_paywire_service(**QUICK_SENDER)


def post_usage(
    service: Service, body: Any, *, key: str | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    sent = {**SERVICE, **({"Idempotency-Key": key} if key else {}), **(headers or {})}
    with service.http() as http:
        return http.post("/api/usage", json=body, headers=sent)


def states(service: Service, user_id: str | None = None) -> dict[str, int]:
    """Usage rows by state (of one user)."""
    with service.sessions() as session:
        query = select(UsageRecord.state, func.count()).group_by(UsageRecord.state)
        if user_id is not None:
            query = query.where(UsageRecord.user_id == user_id)
        return {str(state): int(count) for state, count in session.execute(query)}


def all_sent(service: Service, user_id: str | None = None) -> None:
    wait_for("every usage event sent to Stripe", lambda: not states(service, user_id).get("pending"))


def stripe_usage(subscriber: Subscriber, start: int, end: int) -> float:
    """What Stripe's meter summary says the subscriber used in [start, end)."""
    client = subscriber.sim.client()
    meter = next(m for m in client.v1.billing.meters.list().data if m.event_name == "api_calls")
    customer = subscriber.stripe_subscription()["customer"]
    page = client.v1.billing.meters.event_summaries.list(
        meter.id, params={"customer": customer, "start_time": start - start % 60, "end_time": end + (-end) % 60}
    )
    return sum(s.aggregated_value for s in page.data)


PAYWIRE = [sys.executable, "-m", "paywire.cli.main"]


class SenderSpawner(Protocol):
    def __call__(self, service: Service, name: str, **env: str) -> Process: ...


@pytest.fixture
def spawn_sender(tmp_path: Path) -> Iterator[SenderSpawner]:
    """Start `paywire usage send` as a real process against a service's database and stripesim
    (`spawn_sender(service, "name", PAYWIRE_X="…")`); killed at the end of the test."""
    running: list[Process] = []

    def spawn(service: Service, name: str, **env: str) -> Process:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "PAYWIRE_", "DATABASE_URL"))}
        base.update(
            STRIPE_SECRET_KEY=TEST_KEY,
            STRIPE_API_BASE=str(service.settings.stripe_api_base),
            DATABASE_URL=service.settings.database_url,
            PAYWIRE_LOG_LEVEL="INFO",
            **{k: str(v) for k, v in QUICK_SENDER.items()},
        )
        base.update(env)
        process = Process([*PAYWIRE, "usage", "send"], tmp_path / f"{name}.log", env=base)
        running.append(process)
        return process

    yield spawn
    for process in running:
        process.stop(signal.SIGKILL)
