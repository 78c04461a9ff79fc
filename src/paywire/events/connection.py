"""The worker's own database connection, held for its life.

Checking a connection out of the pool for every group costs a `pool_pre_ping` round trip
each time (a noticeable share of a busy worker's time on PostgreSQL); a held connection never does.
After a loop error (the database restarted) `reset()` drops it and the next session
connects afresh.

On PostgreSQL the connection commits without waiting for the WAL flush (`synchronous_commit =
off`, this connection only): an fsync per commit was most of a group's time. What the worker
commits is derived from durable inputs (the inbox rows the receiver committed synchronously,
and Stripe), so the few commits a database crash can lose only put their events back in the
line, atomically with their mirror writes and facts; reactions key their effects by the fact
(see `paywire.reactions.email`), so a fact recorded again after such a loss is still one fact
to the outside.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

log = logging.getLogger("paywire.events.worker")


class PinnedSessions:
    """Each `with pinned() as session:` is one transaction on the held connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None

    def __call__(self) -> Session:
        if self._connection is None or self._connection.closed or self._connection.invalidated:
            self._connection = self.engine.connect()
            if self._connection.dialect.name == "postgresql":
                self._connection.exec_driver_sql("SET synchronous_commit TO off")
                self._connection.commit()
        return Session(bind=self._connection, expire_on_commit=False)

    def reset(self) -> None:
        if self._connection is not None:
            try:
                if self._connection.dialect.name == "postgresql" and not self._connection.invalidated:
                    # The connection goes back to a pool other code shares (`paywire serve`).
                    self._connection.rollback()
                    self._connection.exec_driver_sql("RESET synchronous_commit")
                    self._connection.commit()
                self._connection.close()
            except Exception:
                log.debug("closing the worker's connection failed", exc_info=True)
            self._connection = None
