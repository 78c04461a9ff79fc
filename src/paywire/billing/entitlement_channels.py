"""How a process hears that an entitlement changed in another one: the invalidation channel of
an entitlement cache, one daemon thread each.

- PostgreSQL (`ListenChannel`): `LISTEN paywire_entitlements` on a connection of its own;
  every committed version bump arrives as `user_id:version` (NOTIFY is delivered at commit).
  Every `interval` a heartbeat (`SELECT 1`) proves the connection alive; notifications for
  commits made before the heartbeat reach the connection before its answer.
- SQLite (`PollChannel`): one machine, no NOTIFY; every `interval` a read of the versions
  above the highest one seen. SQLite versions grow in commit order, so none is skipped.

Either way `synced_at` (monotonic seconds) is a moment up to which every committed bump has
been applied: the start of the last heartbeat or poll that answered. The cache serves its
entries only while that moment is within its staleness bound; otherwise checks read the
mirror. A broken connection loses notifications: after reconnecting, the listener resets the
cache (`on_reset`) before it reports itself synced again. A poll loses nothing (the high-water
mark carries over), so it only stops reporting itself synced while it fails.

A channel nobody has needed for `IDLE_SECONDS` (`idle()` says so) ends, and gives its
connection back: the cache starts a new one, empty, on the next check.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Engine

from paywire.db.repositories import entitlement_versions

log = logging.getLogger("paywire.billing.entitlement_cache")

Apply = Callable[[Iterable[tuple[str, int]]], None]

# After a failure, the channel tries again this much later (seconds).
RETRY_SECONDS = 1.0
# A channel whose cache answered no check for this long ends (its cache starts it again).
IDLE_SECONDS = 60.0


class ChannelThread:
    """The thread, its stop signal and the synced moment, shared by both channels. It holds
    its engine weakly: when the engine is gone, the thread ends."""

    name = "paywire-entitlements"

    def __init__(
        self,
        engine: Engine,
        apply: Apply,
        on_reset: Callable[[], None],
        idle: Callable[[], bool],
        interval: float,
        retry: float,
    ) -> None:
        self._engine = weakref.ref(engine)
        self.apply = apply
        self.on_reset = on_reset
        self.idle = idle
        self.interval = interval
        self.retry = retry
        self.synced_at: float | None = None
        self.stopped_at: float | None = None
        self.ended_idle = False  # ended for want of checks, not by a failure
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop (the thread ends at its next wake-up, within `interval`)."""
        self.synced_at = None
        self._stop.set()

    def engine(self) -> Engine | None:
        """The engine while the channel should go on: not closed, not idle, engine alive."""
        if self._stop.is_set():
            return None
        if self.idle():
            self.ended_idle = True
            self._stop.set()
            return None
        return self._engine()

    def _run(self) -> None:
        first = True
        try:
            while not self._stop.is_set():
                try:
                    self.serve()
                except Exception:
                    if self._stop.is_set():
                        break  # closed meanwhile: its connection going away is no failure
                    # Once per outage (a synced channel failing, or the first try): a database
                    # that is down stays down for many retries.
                    level = logging.WARNING if first or self.synced_at is not None else logging.DEBUG
                    log.log(level, "the entitlement cache's channel failed; checks read the mirror", exc_info=True)
                first = False
                self.synced_at = None
                self.disconnect()
                if self.engine() is None or self._stop.wait(self.retry):
                    break
        finally:
            self.synced_at = None
            self.stopped_at = time.monotonic()
            self.disconnect()

    def serve(self) -> None:
        raise NotImplementedError

    def disconnect(self) -> None:
        pass


class ListenChannel(ChannelThread):
    """PostgreSQL: LISTEN on a connection taken out of the engine's pool for good."""

    name = "paywire-entitlements-listen"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connection: Any = None
        self.backend_pid: int | None = None  # the listening connection's server process

    def serve(self) -> None:
        engine = self.engine()
        if engine is None:
            return
        raw = engine.raw_connection()
        del engine
        raw.detach()
        connection = raw.dbapi_connection
        assert connection is not None
        self._connection = connection
        connection.rollback()
        connection.autocommit = True
        connection.execute(f"LISTEN {entitlement_versions.CHANNEL}")
        self.backend_pid = connection.info.backend_pid
        started = time.monotonic()
        # Whatever changed before LISTEN was never heard: entries start over.
        self.on_reset()
        self.synced_at = started
        while self.engine() is not None:
            for notification in connection.notifies(timeout=self.interval):
                self._apply([notification])
            started = time.monotonic()
            connection.execute("SELECT 1")
            self._apply(list(connection.notifies(timeout=0)))  # those that came with the answer
            self.synced_at = started

    def _apply(self, notifications: list[Any]) -> None:
        heard = [found for n in notifications if (found := entitlement_versions.announcement(n.payload))]
        if heard:
            self.apply(heard)

    def disconnect(self) -> None:
        # The DBAPI connection itself: it left the pool for good, nothing is to be reset.
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:
                log.debug("closing the entitlement channel's connection failed", exc_info=True)


class PollChannel(ChannelThread):
    """SQLite: read the versions above the high-water mark every `interval`."""

    name = "paywire-entitlements-poll"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.high_water: int | None = None

    def serve(self) -> None:
        while True:
            engine = self.engine()
            if engine is None:
                return
            started = time.monotonic()
            with engine.connect() as connection:
                if self.high_water is None:
                    # The cache starts empty: every version from here on is news.
                    self.high_water = entitlement_versions.latest(connection)
                else:
                    found = entitlement_versions.since(connection, self.high_water)
                    if found:
                        self.apply(found)
                        self.high_water = max(version for _, version in found)
            del engine
            self.synced_at = started
            if self._stop.wait(self.interval):
                return


def open_channel(
    engine: Engine, apply: Apply, on_reset: Callable[[], None], idle: Callable[[], bool], interval: float
) -> ChannelThread:
    """The engine's channel, started."""
    kind = ListenChannel if engine.dialect.name == "postgresql" else PollChannel
    channel = kind(engine, apply, on_reset, idle, interval, RETRY_SECONDS)
    channel.start()
    return channel
