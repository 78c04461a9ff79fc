"""Where the request budget's state lives, so that every process of a deployment shares it.

PostgreSQL (many machines): one row per mode in `stripe_budget` (migration 0011; UNLOGGED: a
budget lost in a crash starts full, which is what it would be a second later anyway), changed
under `SELECT … FOR UPDATE`, a millisecond per request on a local network.

SQLite (one machine): the same row in a small SQLite file beside the database
(`<database>-stripe-budget`), changed under `BEGIN IMMEDIATE`. Not the database itself:
its one write lock is held by the mirror's writers while they ask Stripe for what they
need (a test clock's time), and a request waiting for a lock its own thread holds would
wait for ever.

Either way one store per database and process (`store_for`), whatever number of gateways
the process builds.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from paywire.config import Settings
from paywire.stripe.budget import BudgetState, BudgetStore, MemoryStore, RequestBudget

TABLE = "stripe_budget"
SQLITE_SUFFIX = "-stripe-budget"
SQLITE_TIMEOUT_SECONDS = 10.0

_CREATE_SQLITE = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    name VARCHAR(16) PRIMARY KEY,
    next_slot FLOAT NOT NULL,
    shrunk_rate FLOAT,
    held_until FLOAT NOT NULL
)"""
_SELECT = f"SELECT next_slot, shrunk_rate, held_until FROM {TABLE} WHERE name = :name"
_UPSERT = (
    f"INSERT INTO {TABLE} (name, next_slot, shrunk_rate, held_until) "
    "VALUES (:name, :next_slot, :shrunk_rate, :held_until) "
    "ON CONFLICT (name) DO UPDATE SET next_slot = excluded.next_slot, "
    "shrunk_rate = excluded.shrunk_rate, held_until = excluded.held_until"
)
_LOCK = text(_SELECT + " FOR UPDATE")
_CREATE_ROW = text(
    f"INSERT INTO {TABLE} (name, next_slot, held_until) VALUES (:name, 0, 0) ON CONFLICT (name) DO NOTHING"
)


def _state(row: tuple[float, float | None, float] | None) -> BudgetState | None:
    if row is None:
        return None
    return BudgetState(next_slot=float(row[0]), shrunk_rate=row[1], held_until=float(row[2]))


def _values(name: str, state: BudgetState) -> dict[str, object]:
    return {
        "name": name,
        "next_slot": state.next_slot,
        "shrunk_rate": state.shrunk_rate,
        "held_until": state.held_until,
    }


class PostgresStore:
    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name

    def change(self, change: Callable[[BudgetState | None], BudgetState]) -> BudgetState:
        with self.engine.begin() as connection:
            row = connection.execute(_LOCK, {"name": self.name}).first()
            if row is None:
                # The deployment's first request: make the row (a racer may have), then lock it.
                connection.execute(_CREATE_ROW, {"name": self.name})
                row = connection.execute(_LOCK, {"name": self.name}).one()
            found = _state((row[0], row[1], row[2])) if row[0] else None  # next_slot 0: a new row
            state = change(found)
            connection.execute(text(_UPSERT), _values(self.name, state))
        return state


class SqliteFileStore:
    """The budget in its own SQLite file: processes take turns on its write lock, the
    threads of this process on one connection."""

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.name = name
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(
            str(path), timeout=SQLITE_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
        )
        self._connection.execute("PRAGMA journal_mode=WAL")
        # The state needs no durability: a budget lost with the machine starts full.
        self._connection.execute("PRAGMA synchronous=OFF")
        self._connection.execute(_CREATE_SQLITE)

    def change(self, change: Callable[[BudgetState | None], BudgetState]) -> BudgetState:
        with self._lock:
            connection = self._connection
            connection.execute("BEGIN IMMEDIATE")
            try:
                row = connection.execute(_SELECT, {"name": self.name}).fetchone()
                state = change(_state(row))
                connection.execute(_UPSERT, _values(self.name, state))
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        return state


_STORES: dict[tuple[str, str], BudgetStore] = {}
_STORES_LOCK = threading.Lock()


def budget_for(settings: Settings) -> RequestBudget | None:
    """The deployment's budget (PAYWIRE_STRIPE_RATE_LIMIT; None when `off`). A person's
    request waits for its slot at most as long as it would wait for Stripe itself."""
    rate = settings.stripe_requests_per_second
    if rate is None:
        return None
    name = "live" if settings.is_live_key else "test"
    return RequestBudget(rate, store_for(settings.database_url, name), max_wait=settings.stripe_timeout)


def store_for(database_url: str, name: str) -> BudgetStore:
    """The store of the deployment whose database is `database_url`; `name` tells apart the
    budgets of the two modes (a live and a test key share nothing at Stripe)."""
    key = (database_url, name)
    with _STORES_LOCK:
        found = _STORES.get(key)
        if found is None:
            found = _STORES[key] = _open(database_url, name)
        return found


def _open(database_url: str, name: str) -> BudgetStore:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            return MemoryStore()
        return SqliteFileStore(Path(f"{url.database}{SQLITE_SUFFIX}"), name)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    # A few connections: a booking holds one for a millisecond.
    engine = create_engine(url, pool_size=2, max_overflow=8, pool_pre_ping=True)
    return PostgresStore(engine, name)
