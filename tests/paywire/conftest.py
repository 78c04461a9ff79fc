"""paywire's fixtures: a migrated database per test (SQLite, and PostgreSQL when
PAYWIRE_TEST_DATABASE_URL is set), and the real service in a real uvicorn server."""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from paywire.catalog import Catalog, load_catalog
from paywire.catalog.sync import push
from paywire.config import Settings, load_settings
from paywire.db.engine import make_engine, make_session_factory
from paywire.db.migrate import head_revision, upgrade_to_head
from paywire.db.models import Base
from paywire.stripe import StripeGateway
from paywire.web.app import create_app
from paywire.web.auth import issue_token
from paywire.workers import start_worker_thread
from tests.support.processes import STARTUP_SECONDS, free_port
from tests.support.stripesim import TEST_KEY, Sim

AUTH_SECRET = "paywire-test-suite-auth-secret-0123456789"

PG_ENV = "PAYWIRE_TEST_DATABASE_URL"
# The PostgreSQL case is marked `postgres`, which also puts it in the e2e tier (tests/conftest.py).
BACKENDS = ["sqlite", *([pytest.param("postgresql", marks=pytest.mark.postgres)] if os.environ.get(PG_ENV) else [])]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not os.environ.get(PG_ENV):
        terminalreporter.write_line(
            f"paywire: PostgreSQL tests were NOT run (set {PG_ENV}, e.g. "
            "postgresql+psycopg://postgres@127.0.0.1:5432/test); SQLite only.",
            yellow=True,
        )
    else:
        terminalreporter.write_line("paywire: database tests ran on SQLite and PostgreSQL.")


def _libpq(url: str) -> str:
    """The URL psycopg itself accepts (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A private database on the configured server for this test session, dropped after:
    other people may use the named database at the same time."""
    given = os.environ.get(PG_ENV, "")
    problem = ""
    try:
        admin = psycopg.connect(_libpq(given), autocommit=True, connect_timeout=5)
    except Exception as exc:
        problem = str(exc)
    if problem:
        pytest.fail(
            f"{PG_ENV} is set to {make_url(given).render_as_string(hide_password=True)} but "
            f"PostgreSQL is unreachable: {problem}. Unset it to run on SQLite only.",
            pytrace=False,
        )
    name = f"paywire_test_{secrets.token_hex(6)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(given).set(drivername="postgresql+psycopg", database=name)
    yield url.render_as_string(hide_password=False)
    with psycopg.connect(_libpq(given), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _reset_postgres(url: str) -> None:
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


def _clear_postgres(url: str) -> None:
    """Make the database as a fresh migration would: a schema already at the newest migration
    with exactly the models' tables is emptied (its tables truncated, its sequences restarted:
    a tenth of the time the migrations take), any other is dropped and migrated."""
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        at_head = False
        if conn.execute("SELECT to_regclass('public.alembic_version')").fetchone() != (None,):
            at_head = conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head_revision(),)]
        listed = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        found = {name for (name,) in conn.execute(listed).fetchall()}
        if at_head and found == set(Base.metadata.tables):  # a test's own table: start over
            tables = ", ".join(f'"{name}"' for name in sorted(found))
            conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
            sequences = "SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = 'public'"
            for (name,) in conn.execute(sequences).fetchall():
                conn.execute(f'ALTER SEQUENCE "{name}" RESTART')
            return
    _reset_postgres(url)
    upgrade_to_head(url)


@pytest.fixture(params=BACKENDS)
def database_backend(request: pytest.FixtureRequest) -> str:
    """Which database a test runs on: every database test runs on each."""
    return str(request.param)


@pytest.fixture
def empty_database_url(database_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no tables yet: a fresh SQLite file, or a reset PostgreSQL schema."""
    if database_backend == "sqlite":
        return f"sqlite:///{tmp_path}/paywire.sqlite3"
    url: str = request.getfixturevalue("postgres_server_url")
    _reset_postgres(url)
    return url


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated once per test process: a test's own is a copy of it (running
    the migrations costs about a second, a copy a millisecond; the file is the same)."""
    path = tmp_path_factory.mktemp("migrated") / "paywire.sqlite3"
    upgrade_to_head(f"sqlite:///{path}")
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the one file
    finally:
        connection.close()
    return path


@pytest.fixture
def database_url(database_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database with no rows (not the same as `empty_database_url`'s: ask for one)."""
    if database_backend == "sqlite":
        template: Path = request.getfixturevalue("migrated_sqlite_file")
        shutil.copyfile(template, tmp_path / "paywire.sqlite3")
        return f"sqlite:///{tmp_path}/paywire.sqlite3"
    url: str = request.getfixturevalue("postgres_server_url")
    _clear_postgres(url)
    return url


@pytest.fixture
def db_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(db_engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(db_engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as s:
        yield s


@pytest.fixture
def sleeps() -> list[float]:
    """Backoff delays the gateway asked for, recorded instead of slept."""
    return []


@pytest.fixture
def gateway(sim: Sim, sleeps: list[float]) -> StripeGateway:
    """A gateway talking HTTP to the freshly reset stripesim."""
    return StripeGateway(
        TEST_KEY,
        api_base=sim.url,
        timeout=10,
        max_network_retries=0,
        rate_limit_retries=3,
        rate_limit_backoff=0.01,
        sleep=sleeps.append,
    )


@pytest.fixture
def catalog() -> Catalog:
    return load_catalog()


def start_uvicorn(app: Any, port: int | None = None) -> tuple[uvicorn.Server, threading.Thread]:
    """Serve an ASGI app for real (HTTP over a socket) from a thread."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_SECONDS
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the app did not start")
        time.sleep(0.02)
    return server, thread


def stop_uvicorn(server: uvicorn.Server, thread: threading.Thread) -> None:
    server.should_exit = True
    thread.join(timeout=15)


@pytest.fixture
def serve_app() -> Iterator[Callable[[Any], httpx.Client]]:
    """Serve any ASGI app over real HTTP; returns an httpx client bound to it."""
    running: list[tuple[uvicorn.Server, threading.Thread, httpx.Client]] = []

    def serve(app: Any) -> httpx.Client:
        server, thread = start_uvicorn(app)
        port = server.config.port
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, trust_env=False)
        running.append((server, thread, client))
        return client

    yield serve
    for server, thread, client in running:
        client.close()
        stop_uvicorn(server, thread)


@dataclass
class Service:
    """paywire running for real: uvicorn on a port, against stripesim and the test DB."""

    url: str
    settings: Settings
    sessions: sessionmaker[Session]
    webhook_endpoint_id: str
    engine: Engine
    server: uvicorn.Server
    thread: threading.Thread
    stop_worker: threading.Event = field(default_factory=threading.Event)
    worker: threading.Thread | None = None

    def token_for(self, user_id: str, email: str | None = None, ttl: int = 3600) -> str:
        return issue_token(AUTH_SECRET, user_id, email, ttl)

    def headers_for(self, user_id: str, email: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token_for(user_id, email)}"}

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, trust_env=False)


def _start_service(sim: Sim, database_url: str, catalog: Catalog, with_worker: bool, **overrides: Any) -> Service:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    values: dict[str, Any] = {
        "STRIPE_SECRET_KEY": TEST_KEY,
        "STRIPE_API_BASE": sim.url,
        "DATABASE_URL": database_url,
        "APP_URL": url,
        "PAYWIRE_AUTH_SECRET": AUTH_SECRET,
        "PAYWIRE_STRIPE_RATE_LIMIT_BACKOFF": 0.05,
        "PAYWIRE_WORKER_POLL_INTERVAL": 0.1,
        "PAYWIRE_CHECKOUT_RATE_LIMIT": "1000/minute",  # tests of the limit set their own
        "_env_file": None,
    }
    values.update(overrides)
    # The catalog before the webhook endpoint exists: its product and price events would
    # otherwise go to this server before it listens, fail, and come back as retries 5 s into
    # the test (events in the inbox the test did not make, and deliveries unsettled till then).
    push(catalog, StripeGateway.from_settings(load_settings(**values)))
    # The endpoints before the app, so their signing secrets are known when the app starts: the
    # platform's, and the Connect endpoint (events of sellers' connected accounts).
    endpoint = sim.client().v1.webhook_endpoints.create(
        params={"url": f"{url}/webhooks/stripe", "enabled_events": ["*"]}
    )
    connect = sim.client().v1.webhook_endpoints.create(
        params={"url": f"{url}/webhooks/stripe?connect=1", "enabled_events": ["*"], "connect": True}
    )
    secrets = {"STRIPE_WEBHOOK_SECRET": endpoint.secret, "STRIPE_CONNECT_WEBHOOK_SECRET": connect.secret}
    settings = load_settings(**{**secrets, **values})
    server, thread = start_uvicorn(create_app(settings), port)
    engine = make_engine(database_url)
    service = Service(url, settings, make_session_factory(engine), endpoint.id, engine, server, thread)
    if with_worker:
        service.worker = start_worker_thread(settings, service.stop_worker)
    return service


def _stop_service(service: Service) -> None:
    service.stop_worker.set()
    if service.worker is not None:
        service.worker.join(timeout=15)
    stop_uvicorn(service.server, service.thread)
    service.engine.dispose()


@pytest.fixture
def make_paywire_service(sim: Sim, database_url: str, catalog: Catalog) -> Iterator[Callable[..., Service]]:
    """Start paywire with setting overrides, e.g. `make_paywire_service(
    PAYWIRE_CHECKOUT_RATE_LIMIT="2/minute")`; `with_worker=False` leaves events unprocessed."""
    started: list[Service] = []

    def make(with_worker: bool = True, **overrides: Any) -> Service:
        service = _start_service(sim, database_url, catalog, with_worker, **overrides)
        started.append(service)
        return service

    yield make
    for service in started:
        _stop_service(service)


@pytest.fixture
def paywire_service(make_paywire_service: Callable[..., Service]) -> Service:
    """paywire (API, webhook receiver and worker) with the default catalog pushed."""
    return make_paywire_service()
