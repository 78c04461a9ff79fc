"""paywire's fixtures: a migrated database per test (SQLite, and PostgreSQL when
PAYWIRE_TEST_DATABASE_URL is set), and the real service in a real uvicorn server."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from paywire.catalog import Catalog, load_catalog
from paywire.db.engine import make_engine, make_session_factory
from paywire.db.migrate import upgrade_to_head
from paywire.stripe import StripeGateway
from tests.support.stripesim import TEST_KEY, Sim

PG_ENV = "PAYWIRE_TEST_DATABASE_URL"
BACKENDS = ["sqlite", *(["postgresql"] if os.environ.get(PG_ENV) else [])]


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


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> str:
    """A database with no tables yet: a fresh SQLite file, or a reset PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/paywire.sqlite3"
    url: str = request.getfixturevalue("postgres_server_url")
    _reset_postgres(url)
    return url


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    """A migrated database."""
    upgrade_to_head(empty_database_url)
    return empty_database_url


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
