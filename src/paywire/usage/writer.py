"""Group commit for recorded usage: many callers, one INSERT and one commit.

Callers (HTTP requests on the event loop, product threads calling `paywire.usage.record`)
hand their checked events to one writer thread per recorder; it stores everything waiting in
one statement (`INSERT … ON CONFLICT (identifier) DO NOTHING RETURNING identifier`; more than
`store.INSERT_CHUNK` events take several), then
answers each caller with the identifiers that were new to it. Nobody is answered before the
statements holding their events have committed; under load many calls share one round trip
and one commit, alone a call costs one. On SQLite the writer is the one writer of this process
(no waiting on itself for the write lock).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from sqlalchemy import Engine

from paywire.db.group_commit import GroupCommit, database_unreachable
from paywire.usage.store import NewUsage, store

log = logging.getLogger("paywire.usage.writer")

# Events per transaction (however many callers they come from).
MAX_GROUP = 5000
IDLE_SECONDS = 2.0


class WriterClosed(Exception):
    """The writer has stopped (the process is ending): nothing was stored."""


@dataclass
class _Waiting:
    events: Sequence[NewUsage]
    future: Future[set[str]]


class UsageWriter:
    def __init__(
        self,
        engine: Engine,
        *,
        max_group: int = MAX_GROUP,
        idle_seconds: float = IDLE_SECONDS,
        on_stored: Callable[[int], None] | None = None,
    ) -> None:
        # Autocommit: each INSERT (up to `store.INSERT_CHUNK` events) is atomic by itself, so
        # BEGIN/COMMIT would only add round trips. A call whose events span several INSERTs may
        # be stored in part if the database fails between them: it is answered with the error
        # and sent again, and what was stored comes back as duplicates.
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._on_stored = on_stored
        self._commits: GroupCommit[_Waiting] = GroupCommit(
            self._write_groups,
            _refuse,
            name="paywire-usage-writer",
            max_size=max_group,
            idle_seconds=idle_seconds,
            size_of=_size,
        )
        self.transactions = 0  # committed groups (for tests and the bench)

    def submit(self, events: Sequence[NewUsage]) -> Future[set[str]]:
        """Queue events; the future answers the identifiers this call stored (the others were
        stored before, by this call's earlier copy or anyone's)."""
        future: Future[set[str]] = Future()
        if self._commits.closed:
            future.set_exception(WriterClosed("the usage writer is closed"))
            return future
        if not events:
            future.set_result(set())
            return future
        self._commits.put(_Waiting(events, future))
        return future

    def write(self, events: Sequence[NewUsage], timeout: float | None = 60.0) -> set[str]:
        return self.submit(events).result(timeout)

    async def awrite(self, events: Sequence[NewUsage]) -> set[str]:
        return await asyncio.wrap_future(self.submit(events))

    def close(self, timeout: float = 10.0) -> None:
        """Store what is waiting, then stop."""
        self._commits.close(timeout)

    def _write_groups(self, groups: Iterator[list[_Waiting]]) -> None:
        for group in groups:
            self._write(group)

    def _write(self, group: list[_Waiting]) -> None:
        events = [event for waiting in group for event in waiting.events]
        try:
            with self._engine.connect() as connection:
                stored = store(connection, events)
        except Exception as exc:
            if len(group) > 1 and not database_unreachable(exc):
                for waiting in group:  # one caller's bad row must not refuse the others'
                    self._write([waiting])
                return
            log.error("usage not stored: %s", type(exc).__name__)
            for waiting in group:
                waiting.future.set_exception(exc)
            return
        self.transactions += 1
        claimed: set[str] = set()
        for waiting in group:
            mine = {e.identifier for e in waiting.events if e.identifier in stored and e.identifier not in claimed}
            claimed |= mine
            waiting.future.set_result(mine)
        if self._on_stored is not None and stored:
            self._on_stored(len(group))  # how many calls shared the commit: a burst when many


def _size(waiting: _Waiting) -> int:
    return len(waiting.events)


def _refuse(waiting: list[_Waiting]) -> None:
    for item in waiting:
        if not item.future.done():
            item.future.set_exception(WriterClosed("the usage writer is closed"))
