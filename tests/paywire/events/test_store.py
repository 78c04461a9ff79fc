"""The receiver's store path: the group-commit writer and the two ways a webhook reaches it
(the service's fast lane and a host app's ordinary route)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

import paywire
from paywire.config import load_settings
from paywire.db.engine import make_engine
from paywire.db.models import WebhookEvent
from paywire.events import store
from paywire.events.store import InboxWriter, NewEvent, StoreUnavailable
from paywire.web.app import PaywireApp, create_app
from tests.paywire.conftest import AUTH_SECRET, start_uvicorn, stop_uvicorn
from tests.paywire.events.conftest import event_payload, sign
from tests.support.stripesim import TEST_KEY, Sim

SECRET = "whsec_receiver_store_tests"


def row(event_id: str, state: str = "pending", object_id: str = "sub_1") -> NewEvent:
    return NewEvent(event_id, "customer.subscription.updated", False, None, object_id, "subscription", 1, "{}", state)


def stored_ids(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return sorted(session.scalars(select(WebhookEvent.id)))


@pytest.fixture
def writer(db_engine: Engine) -> Iterator[InboxWriter]:
    made = InboxWriter(db_engine, idle_seconds=0.2)
    yield made
    made.close()


def store_all(writer: InboxWriter, rows: list[NewEvent]) -> list[Any]:
    """Hand every row to the writer at once, as concurrent requests do."""

    async def main() -> list[Any]:
        return await asyncio.gather(*(writer.store(r) for r in rows), return_exceptions=True)

    return asyncio.run(main())


def test_store_many_inserts_new_ids_in_one_statement_and_skips_known_ones(
    db_engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    with db_engine.begin() as connection:
        assert store.store_many(connection, [row("evt_a"), row("evt_b")]) == {"evt_a", "evt_b"}
    with db_engine.begin() as connection:
        assert store.store_many(connection, [row("evt_b"), row("evt_c")]) == {"evt_c"}
    with db_engine.begin() as connection:
        assert store.store_many(connection, []) == set()
    assert stored_ids(session_factory) == ["evt_a", "evt_b", "evt_c"]


def test_the_session_store_recovery_uses_is_unchanged(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        assert store.store(session, row("evt_s")) is True
        assert store.store(session, row("evt_s")) is False
        session.commit()
    assert stored_ids(session_factory) == ["evt_s"]


def test_concurrent_requests_each_learn_whether_they_stored_their_event(
    writer: InboxWriter, session_factory: sessionmaker[Session]
) -> None:
    rows = [row(f"evt_{n:03d}") for n in range(120)]
    # Every event twice in one burst, and some already stored before it.
    with session_factory() as session:
        store.store(session, rows[0])
        session.commit()

    results = store_all(writer, rows + rows)

    assert results[0] is False and results[120] is False, "stored before the burst"
    for n in range(1, 120):
        assert sorted([results[n], results[120 + n]]) == [False, True], "exactly one request stored it"
    assert stored_ids(session_factory) == sorted(r.id for r in rows)
    assert writer.batches < 119, "concurrent rows shared statements"


def test_a_row_the_database_refuses_does_not_refuse_the_others(
    writer: InboxWriter, session_factory: sessionmaker[Session]
) -> None:
    rows = [row("evt_ok_1"), row("evt_bad", state="not-a-state"), row("evt_ok_2")]

    results = store_all(writer, rows)

    assert results[0] is True and results[2] is True
    assert isinstance(results[1], IntegrityError)
    assert stored_ids(session_factory) == ["evt_ok_1", "evt_ok_2"]


def test_the_writer_stops_when_idle_and_starts_again(
    writer: InboxWriter, session_factory: sessionmaker[Session]
) -> None:
    assert store_all(writer, [row("evt_first")]) == [True]
    deadline = time.monotonic() + 5
    while writer._commits.running and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not writer._commits.running, "the idle writer gave its thread and connection back"

    assert store_all(writer, [row("evt_second")]) == [True]
    assert stored_ids(session_factory) == ["evt_first", "evt_second"]


def test_an_unreachable_database_fails_the_whole_batch_at_once(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/missing-dir/paywire.sqlite3")
    writer = InboxWriter(engine)
    try:
        results = store_all(writer, [row(f"evt_down_{n}") for n in range(5)])
    finally:
        writer.close()
        engine.dispose()
    assert all(isinstance(r, SQLAlchemyError) for r in results)
    assert writer.batches == 0


def test_a_closed_writer_refuses_instead_of_hanging(db_engine: Engine) -> None:
    writer = InboxWriter(db_engine)
    writer.close()

    [result] = store_all(writer, [row("evt_after_close")])

    assert isinstance(result, StoreUnavailable)


def test_the_writer_rings_the_bell_only_for_rows_to_process(db_engine: Engine) -> None:
    rings: list[int] = []
    writer = InboxWriter(db_engine, on_stored=lambda size: rings.append(size))
    try:
        store_all(writer, [row("evt_live", state="livemode_mismatch")])
        assert rings == []
        store_all(writer, [row("evt_pending")])
        assert rings == [1]
        store_all(writer, [row("evt_pending")])  # a duplicate stores nothing
        assert rings == [1]
    finally:
        writer.close()


def _settings(sim: Sim, database_url: str) -> Any:
    return load_settings(
        _env_file=None,
        STRIPE_SECRET_KEY=TEST_KEY,
        STRIPE_API_BASE=sim.url,
        STRIPE_WEBHOOK_SECRET=SECRET,
        DATABASE_URL=database_url,
        PAYWIRE_AUTH_SECRET=AUTH_SECRET,
    )


def _deliver(http: httpx.Client, event_id: str) -> httpx.Response:
    payload = event_payload(event_id, "customer.updated")
    return http.post("/webhooks/stripe", content=payload, headers={"stripe-signature": sign(payload, SECRET)})


def test_the_service_sends_webhooks_around_fastapi_and_its_middleware(
    sim: Sim,
    database_url: str,
    serve_app: Callable[[Any], httpx.Client],
    session_factory: sessionmaker[Session],
) -> None:
    app = create_app(_settings(sim, database_url))
    seen: list[str] = []

    @app.middleware("http")
    async def spy(request: Any, call_next: Any) -> Any:
        seen.append(request.url.path)
        return await call_next(request)

    http = serve_app(app)

    assert isinstance(app, PaywireApp)
    assert _deliver(http, "evt_lane").json() == {"received": True}
    assert http.get("/healthz").status_code == 200
    assert seen == ["/healthz"], "the webhook took the fast lane"
    assert stored_ids(session_factory) == ["evt_lane"]
    # GET on the webhook path is not the lane's: FastAPI answers it as before.
    assert http.get("/webhooks/stripe").status_code == 405


def test_a_host_app_receives_webhooks_through_the_mounted_router(
    sim: Sim,
    database_url: str,
    serve_app: Callable[[Any], httpx.Client],
    session_factory: sessionmaker[Session],
) -> None:
    host = FastAPI()
    paywire.mount(host, _settings(sim, database_url))
    http = serve_app(host)

    first = _deliver(http, "evt_host")
    again = _deliver(http, "evt_host")

    assert (first.status_code, first.json()) == (200, {"received": True})
    assert (again.status_code, again.json()) == (200, {"received": True, "duplicate": True})
    assert stored_ids(session_factory) == ["evt_host"]


def test_a_stopping_app_closes_its_writer(sim: Sim, database_url: str) -> None:
    app = create_app(_settings(sim, database_url))
    webhooks = app.state.paywire.receiver
    server, thread = start_uvicorn(app)
    with httpx.Client(base_url=f"http://127.0.0.1:{server.config.port}", trust_env=False) as http:
        assert _deliver(http, "evt_before_stop").status_code == 200
    writer = webhooks.writer
    stop_uvicorn(server, thread)

    assert webhooks._writer is None, "the receiver let go of its writer"
    assert not writer._commits.running, "its thread ended"
    [result] = store_all(writer, [row("evt_after_stop")])
    assert isinstance(result, StoreUnavailable)
