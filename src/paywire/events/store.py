"""Storing verified events in the inbox: once per id, committed before anyone is told so.

Two ways in, one statement shape (`INSERT … ON CONFLICT DO NOTHING RETURNING id`, so a
redelivered id is a no-op and a failure leaves no partial row):

- `store(session, row)`: one event in the caller's transaction (recovery, tests).
- `InboxWriter`: the receiver's path. Requests on the event loop hand their row to one
  writer thread per engine, which inserts everything waiting in one statement on one pooled
  connection in autocommit mode, then wakes the requests. Under load many webhooks share
  one round trip and one commit (group commit); alone, a webhook costs one round trip. No
  request is answered before the statement holding its row has committed, and SQLite gets
  a single writer, so the receiver never waits on itself for the database's write lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from paywire.db.group_commit import GroupCommit, database_unreachable
from paywire.db.models import WebhookEvent, utcnow

log = logging.getLogger("paywire.events.store")

# One statement per batch must stay one statement: SQLAlchemy splits an executemany into
# pages of `insertmanyvalues_page_size` (1000) rows, and in autocommit each page would be
# its own transaction. 12 parameters a row also stays far below SQLite's variable limit.
MAX_BATCH = 256
# The writer thread gives its connection back and ends after this long without work; the
# next webhook starts it again.
WRITER_IDLE_SECONDS = 2.0


@dataclass(frozen=True)
class NewEvent:
    """What the receiver stores for one verified event."""

    id: str
    type: str
    livemode: bool
    api_version: str | None
    object_id: str | None
    object_type: str | None
    event_created: int | None
    payload: str
    state: str = "pending"


def new_event(raw_payload: str, event: dict[str, Any], *, expected_livemode: bool) -> NewEvent:
    """The inbox row for a verified event (a plain dict). Pure."""
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    obj = obj if isinstance(obj, dict) else {}
    object_id = obj.get("id") if isinstance(obj.get("id"), str) else None
    livemode = bool(event.get("livemode"))
    created = event.get("created")
    return NewEvent(
        id=event["id"],
        type=event["type"],
        livemode=livemode,
        api_version=event.get("api_version") if isinstance(event.get("api_version"), str) else None,
        object_id=object_id,
        object_type=obj.get("object") if isinstance(obj.get("object"), str) else None,
        event_created=created if isinstance(created, int) else None,
        payload=raw_payload,
        state="pending" if livemode == expected_livemode else "livemode_mismatch",
    )


def row_values(event: NewEvent, now: datetime) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "livemode": event.livemode,
        "api_version": event.api_version,
        "object_id": event.object_id,
        "object_type": event.object_type,
        "event_created": event.event_created,
        "payload": event.payload,
        "received_at": now,
        "attempts": 0,
        "next_attempt_at": now,
        "state": event.state,
    }


_STATEMENTS: dict[str, Any] = {}


def insert_statement(dialect: str) -> Any:
    """`INSERT … ON CONFLICT DO NOTHING RETURNING id` for the dialect (built once).
    RETURNING, not rowcount: drivers disagree on rowcount after ON CONFLICT DO NOTHING."""
    statement = _STATEMENTS.get(dialect)
    if statement is None:
        if dialect == "postgresql":
            base: Any = pg_insert(WebhookEvent)
        elif dialect == "sqlite":
            base = sqlite_insert(WebhookEvent)
        else:  # pragma: no cover - paywire supports the two above
            raise NotImplementedError(f"no inbox for {dialect}")
        statement = _STATEMENTS[dialect] = base.on_conflict_do_nothing().returning(WebhookEvent.id)
    return statement


def store(session: Session, event: NewEvent, now: datetime | None = None) -> bool:
    """Insert the event unless its id is already there; True if this call stored it.
    One statement, so a failure leaves no partial row. The caller commits."""
    statement = insert_statement(session.get_bind().dialect.name)
    return session.execute(statement, row_values(event, now or utcnow())).first() is not None


def store_many(connection: Connection, events: Sequence[NewEvent], now: datetime | None = None) -> set[str]:
    """Insert, in one statement, those of `events` whose ids are new; the ids it stored.
    `events` must not repeat an id and must fit one statement (`MAX_BATCH`)."""
    if not events:
        return set()
    if len(events) > MAX_BATCH:
        raise ValueError(f"at most {MAX_BATCH} events per statement")
    now = now or utcnow()
    statement = insert_statement(connection.dialect.name)
    if len(events) == 1:
        result = connection.execute(statement, row_values(events[0], now))
    else:
        result = connection.execute(statement, [row_values(e, now) for e in events])
    return {row[0] for row in result}


class StoreUnavailable(Exception):
    """The writer is closed (the process is stopping): the event was not stored."""


@dataclass
class _Pending:
    event: NewEvent
    future: asyncio.Future[bool]
    loop: asyncio.AbstractEventLoop


class InboxWriter:
    """Group commit for the receiver: `await writer.store(row)` is True once the row is
    committed, False if its id was already stored; raises `SQLAlchemyError` when the
    database refused or is unreachable (nothing stored)."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int = MAX_BATCH,
        idle_seconds: float = WRITER_IDLE_SECONDS,
        on_stored: Any = None,
    ) -> None:
        if not 1 <= max_batch <= MAX_BATCH:
            raise ValueError(f"max_batch must be between 1 and {MAX_BATCH}")
        # Autocommit: each batch is one INSERT, atomic by itself, so BEGIN/COMMIT would
        # only add two round trips.
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._on_stored = on_stored
        self._commits: GroupCommit[_Pending] = GroupCommit(
            self._write_batches,
            self._refuse,
            name="paywire-inbox-writer",
            max_size=max_batch,
            idle_seconds=idle_seconds,
        )
        self.batches = 0  # statements run (for tests and the bench's curiosity)

    async def store(self, event: NewEvent) -> bool:
        if self._commits.closed:
            raise StoreUnavailable("the inbox writer is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._commits.put(_Pending(event, future, loop))
        return await future

    def close(self, timeout: float = 10.0) -> None:
        """Store what is waiting, then stop (also used at shutdown)."""
        self._commits.close(timeout)

    def _write_batches(self, batches: Iterator[list[_Pending]]) -> None:
        """The writer thread's loop: one pooled connection kept from batch to batch while
        there is work, given back when the thread ends."""
        connection: Connection | None = None
        try:
            for batch in batches:
                connection = self._write(connection, batch)
        finally:
            if connection is not None:
                connection.close()

    def _refuse(self, waiting: list[_Pending]) -> None:
        self._answer(waiting, StoreUnavailable("the inbox writer is closed"))

    def _write(self, connection: Connection | None, batch: list[_Pending]) -> Connection | None:
        unique: dict[str, NewEvent] = {}
        for pending in batch:
            unique.setdefault(pending.event.id, pending.event)
        try:
            connection = connection or self._engine.connect()
            stored = store_many(connection, list(unique.values()))
        except Exception as exc:
            _discard(connection)
            connection = None
            if len(unique) > 1 and not database_unreachable(exc):
                # One bad row must not refuse the others: write them one by one.
                return self._write_each(batch)
            self._answer(batch, exc)
            return connection
        self.batches += 1
        if self._on_stored is not None and any(unique[i].state == "pending" for i in stored):
            self._on_stored(len(batch))
        self._answer(batch, stored)
        return connection

    def _write_each(self, batch: list[_Pending]) -> Connection | None:
        connection: Connection | None = None
        for pending in batch:
            connection = self._write(connection, [pending])
        return connection

    def _answer(self, batch: list[_Pending], outcome: set[str] | BaseException) -> None:
        """Wake the waiting requests: one call into each event loop per batch."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[bool], Any]]] = {}
        claimed: set[str] = set()
        for pending in batch:
            if isinstance(outcome, BaseException):
                result: Any = outcome
            else:
                # The first request for an id stored it; any other in the batch is a duplicate.
                result = pending.event.id in outcome and pending.event.id not in claimed
                claimed.add(pending.event.id)
            by_loop.setdefault(pending.loop, []).append((pending.future, result))
        for loop, results in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
                loop.call_soon_threadsafe(_resolve, results)


def _resolve(results: Iterable[tuple[asyncio.Future[bool], Any]]) -> None:
    for future, result in results:
        if future.done():  # the request was cancelled (the client went away)
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


def _discard(connection: Connection | None) -> None:
    if connection is not None:
        try:
            connection.close()
        except SQLAlchemyError:
            log.debug("closing a failed inbox connection failed too", exc_info=True)
    return None
