"""Engines and sessions for SQLite (one machine) and PostgreSQL (psycopg 3, many machines)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from paywire.config import ConfigError, Settings

SQLITE_BUSY_TIMEOUT_MS = 10_000


def make_engine(database_url: str, **kwargs: Any) -> Engine:
    """An engine tuned for the backend: SQLite gets WAL, foreign keys and a busy timeout
    so the API, the worker and concurrent requests can share one file. JSON columns (the
    Stripe objects the mirror keeps) are parsed and written by orjson: a sync or a worker batch
    reads and writes thousands of them."""
    url = make_url(database_url)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if url.get_backend_name() == "sqlite":
        kwargs.setdefault("json_serializer", json_text)
        connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("json_serializer", json_bytes)  # psycopg takes the bytes as they are
    return create_engine(url, **kwargs)


def json_bytes(value: Any) -> bytes:
    """A JSON column's value as UTF-8 JSON, by orjson (several times quicker than `json.dumps`,
    which a value orjson refuses, such as an integer beyond 64 bits, still gets)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return json.dumps(value).encode()


def json_text(value: Any) -> str:
    """`json_bytes` as text, for SQLite's JSON columns (stored as TEXT)."""
    return json_bytes(value).decode()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: rows read in a request stay usable after its commit.
    return sessionmaker(engine, expire_on_commit=False)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def on_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def require_reachable_database(settings: Settings, *, create: bool = False) -> None:
    """Connect once, so a wrong URL stops a command at start rather than on a request. A
    SQLite file that does not exist is refused (connecting would create an empty one as a side
    effect of failing) unless `create` says making it is the point (`paywire migrate`)."""
    url = make_url(settings.database_url)
    is_file = url.get_backend_name() == "sqlite" and bool(url.database) and url.database != ":memory:"
    if is_file and not create and not Path(str(url.database)).exists():
        raise ConfigError(
            "DATABASE_URL",
            f"{url.database} does not exist: run `paywire migrate` (or start `paywire dev` in this folder)",
        )
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        raise ConfigError(
            "DATABASE_URL",
            f"cannot connect to {settings.database_url_for_logs}: {type(exc).__name__}",
        ) from None
    finally:
        engine.dispose()
