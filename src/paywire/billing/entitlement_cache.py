"""The process's entitlement cache: "what may this user do?" without a query, never staler
than `PAYWIRE_ENTITLEMENT_MAX_STALENESS` (1 s) behind the mirror.

It keeps a snapshot per user (`paywire.billing.entitlement_snapshots`: facts, decided at call
time) with the user's entitlement version, and drops it as soon as it hears of a newer one:
- from this process's own commits, before they happen, in every cache of the process for that
  database (whatever engine wrote): from the moment a transaction is about to commit until it
  has ended, no entry and no read older than its versions is served or kept, so nothing in
  this process answers older than a commit it can already see (an operation's answer right
  after its change, a check right after the worker beside the app wrote);
- from other processes through the invalidation channel (`paywire.billing.entitlement_channels`:
  PostgreSQL LISTEN/NOTIFY, a poll on SQLite).
A snapshot read while a newer version was heard is not kept; a snapshot is never older than
its version. Entries are served only while the channel is healthy (synced within the bound);
otherwise every check reads the mirror (`fallbacks{reason="channel"}`) until it recovers. A
channel whose thread has stopped is started afresh, with an empty cache. Bounded: the least
recently checked users leave first (`PAYWIRE_ENTITLEMENT_CACHE_SIZE`).

Why process state and not wiring: the point is one cache per process and database, found from
nothing but the session `entitlement_for(session, user_id)` is given, so that every caller of
that public function shares it, served by one channel thread. The caches are kept by engine
(weakly: a cache ends with its engine, or when the engine is disposed) and created on first
use, with the settings of that first call (the environment's by default).
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session, SessionTransaction

from paywire.billing.entitlement_channels import IDLE_SECONDS, ChannelThread, open_channel
from paywire.billing.entitlement_snapshots import EntitlementSnapshot, read_snapshot
from paywire.catalog import Catalog, load_catalog
from paywire.config import Settings, load_settings
from paywire.db.repositories import entitlement_versions
from paywire.metrics import (
    ENTITLEMENT_CACHE_ENTRIES,
    ENTITLEMENT_CACHE_FALLBACKS,
    ENTITLEMENT_CACHE_HITS,
    ENTITLEMENT_CACHE_INVALIDATIONS,
    ENTITLEMENT_CACHE_MISSES,
)


@dataclass
class _Reading:
    """Snapshots of one user being read now, and the highest version heard meanwhile."""

    readers: int = 0
    heard: int = 0


class EntitlementCache:
    """The entitlement snapshots of one database, for one process."""

    def __init__(self, engine: Engine, *, max_staleness: float, size: int, rules: tuple[Catalog, int]) -> None:
        self.database = database_of(engine)
        # The environment's catalog and grace, for callers that pass neither: read once with the
        # settings that started this cache, not on every check.
        self.rules = rules
        self.max_staleness = max_staleness
        self.size = size
        self.pid = os.getpid()
        self.closed = False
        self._engine = weakref.ref(engine)
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, EntitlementSnapshot] = OrderedDict()
        self._reading: dict[str, _Reading] = {}
        self._committing: dict[str, list[int]] = {}  # versions this process is committing, by user
        self._epoch = 0  # moves on every reset: a read begun before it is not kept
        self.used_at = time.monotonic()
        self.channel: ChannelThread = self._open_channel(engine)

    def __len__(self) -> int:
        return len(self._entries)

    def _open_channel(self, engine: Engine) -> ChannelThread:
        return open_channel(engine, self.heard_from_channel, self.reset, self._idle, self.max_staleness / 4)

    def _idle(self) -> bool:
        return time.monotonic() - self.used_at > IDLE_SECONDS

    def healthy(self) -> bool:
        """Whether every version committed more than the bound ago has reached this cache.
        A channel that ended is started afresh, with an empty cache: at once if it ended for
        want of checks, after its retry delay if it failed."""
        now = time.monotonic()
        self.used_at = now
        channel = self.channel
        synced = channel.synced_at
        if synced is not None and now - synced <= self.max_staleness:
            return True
        stopped = channel.stopped_at
        wait = 0.0 if channel.ended_idle else channel.retry
        if not channel.running and not self.closed and stopped is not None and now - stopped >= wait:
            engine = self._engine()
            if engine is not None:
                with self._lock:
                    if self.channel is channel:
                        self._forget_all()
                        self.channel = self._open_channel(engine)
        return False

    def snapshot(self, engine: Engine, user_id: str) -> EntitlementSnapshot:
        """The user's snapshot: kept, or read from the mirror in a session of its own (not the
        caller's, whose transaction may be older than what this cache has heard) and kept
        unless a newer version was heard meanwhile."""
        with self._lock:
            found = self._entries.get(user_id)
            if found is not None:
                self._entries.move_to_end(user_id)
                ENTITLEMENT_CACHE_HITS.inc()
                return found
            reading = self._reading.setdefault(user_id, _Reading())
            reading.readers += 1
            epoch = self._epoch
        ENTITLEMENT_CACHE_MISSES.inc()
        snapshot: EntitlementSnapshot | None = None
        try:
            with Session(engine) as session:
                snapshot = read_snapshot(session, user_id)
            return snapshot
        finally:
            with self._lock:
                reading.readers -= 1
                if not reading.readers:
                    self._reading.pop(user_id, None)
                if snapshot is not None and reading.heard <= snapshot.version and epoch == self._epoch:
                    self._keep(snapshot)

    def _keep(self, snapshot: EntitlementSnapshot) -> None:
        kept = self._entries.get(snapshot.user_id)
        if kept is not None and kept.version > snapshot.version:
            return
        if snapshot.version < max(self._committing.get(snapshot.user_id, [0])):
            return  # read before a commit of this process that is under way
        self._entries[snapshot.user_id] = snapshot
        self._entries.move_to_end(snapshot.user_id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def invalidate(self, versions: Iterable[tuple[str, int]], source: str) -> None:
        """Drop what is older than these versions, and keep no read of theirs in progress."""
        dropped = 0
        with self._lock:
            for user_id, version in versions:
                kept = self._entries.get(user_id)
                if kept is not None and kept.version < version:
                    del self._entries[user_id]
                    dropped += 1
                reading = self._reading.get(user_id)
                if reading is not None:
                    reading.heard = max(reading.heard, version)
        if dropped:
            ENTITLEMENT_CACHE_INVALIDATIONS.labels(source=source).inc(dropped)

    def heard_from_channel(self, versions: Iterable[tuple[str, int]]) -> None:
        self.invalidate(versions, "channel")

    def committing(self, versions: Iterable[tuple[str, int]]) -> None:
        """A transaction of this process is about to commit these versions: until it ends
        (`ended`), nothing older is served or kept."""
        versions = list(versions)
        with self._lock:
            for user_id, version in versions:
                self._committing.setdefault(user_id, []).append(version)
        self.invalidate(versions, "commit")

    def ended(self, versions: Iterable[tuple[str, int]]) -> None:
        """That transaction ended (committed: its versions are visible now; or rolled back)."""
        with self._lock:
            for user_id, version in versions:
                under_way = self._committing.get(user_id, [])
                if version in under_way:
                    under_way.remove(version)
                if not under_way:
                    self._committing.pop(user_id, None)

    def reset(self) -> None:
        """Forget everything (what was missed cannot be known): after the channel reconnects."""
        with self._lock:
            self._forget_all()

    def _forget_all(self) -> None:
        """(Lock held.) Drop every entry, and keep no read begun before now."""
        if self._entries:
            ENTITLEMENT_CACHE_INVALIDATIONS.labels(source="reset").inc(len(self._entries))
        self._entries.clear()
        self._epoch += 1

    def close(self) -> None:
        self.closed = True
        self.channel.close()
        self.reset()


# The caches of this process, by engine (see the module docstring for why this is process state).
_CACHES: weakref.WeakKeyDictionary[Engine, EntitlementCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def database_of(engine: Engine) -> str:
    """Which database an engine reaches, whatever its driver name."""
    url = engine.url
    return url.set(drivername=url.get_backend_name()).render_as_string(hide_password=False)


def engine_of(session: Session) -> Engine | None:
    try:
        bind = session.get_bind()
    except Exception:
        return None
    if isinstance(bind, Connection):
        return bind.engine
    return bind if isinstance(bind, Engine) else None


def cache_for(engine: Engine, settings: Settings | None = None) -> EntitlementCache | None:
    """The process's cache of the engine's database, started on first use; None when caching
    is off (`PAYWIRE_ENTITLEMENT_MAX_STALENESS=0` or `PAYWIRE_ENTITLEMENT_CACHE_SIZE=0`)."""
    cache = _CACHES.get(engine)
    if cache is not None and cache.pid == os.getpid() and not cache.closed:
        return cache
    settings = settings or load_settings()
    if settings.entitlement_max_staleness <= 0 or settings.entitlement_cache_size <= 0:
        return None
    with _CACHES_LOCK:
        cache = _CACHES.get(engine)
        if cache is None or cache.pid != os.getpid() or cache.closed:
            _listen_once()
            cache = EntitlementCache(
                engine,
                max_staleness=settings.entitlement_max_staleness,
                size=settings.entitlement_cache_size,
                rules=(load_catalog(settings.catalog_path), settings.grace_seconds),
            )
            _CACHES[engine] = cache
            event.listen(engine, "engine_disposed", _disposed)
        return cache


def default_rules(session: Session) -> tuple[Catalog, int]:
    """The catalog and grace a caller that passes neither gets: the environment's, kept by the
    session's cache (read afresh when caching is off)."""
    engine = engine_of(session)
    cache = cache_for(engine) if engine is not None else None
    if cache is not None:
        return cache.rules
    settings = load_settings()
    return load_catalog(settings.catalog_path), settings.grace_seconds


def caches_of(database: str) -> list[EntitlementCache]:
    with _CACHES_LOCK:
        return [c for c in _CACHES.values() if c.database == database and c.pid == os.getpid()]


def snapshot_of(
    session: Session, user_id: str, *, fresh: bool = False, settings: Settings | None = None
) -> EntitlementSnapshot:
    """The user's snapshot: from the cache of the session's database, or read through the
    session itself when asked to (`fresh`), when the session's own uncommitted transaction
    changed an entitlement (the cache cannot know it), when caching is off, or when the
    channel is unhealthy."""
    if fresh:
        return _from_mirror(session, user_id, "fresh")
    if entitlement_versions.has_pending(session):
        return _from_mirror(session, user_id, "own_write")
    engine = engine_of(session)
    cache = cache_for(engine, settings) if engine is not None else None
    if engine is None or cache is None:
        return _from_mirror(session, user_id, "off")
    if not cache.healthy():
        return _from_mirror(session, user_id, "channel")
    return cache.snapshot(engine, user_id)


def _from_mirror(session: Session, user_id: str, reason: str) -> EntitlementSnapshot:
    ENTITLEMENT_CACHE_FALLBACKS.labels(reason=reason).inc()
    return read_snapshot(session, user_id)


_COMMITTING = "paywire.entitlement_cache.committing"


def _before_commit(session: Session) -> None:
    """The session is about to commit versions (written by `entitlement_versions`' own
    `before_commit` listener, registered before this one at import): every cache of this
    process for the database stops serving older entries until the transaction ends."""
    written = entitlement_versions.written(session)
    engine = engine_of(session)
    if not written or engine is None:
        return
    marked: set[tuple[str, int]] = session.info.setdefault(_COMMITTING, set())
    new = set(written.items()) - marked
    if not new:
        return
    marked |= new
    for cache in caches_of(database_of(engine)):
        cache.committing(new)


def _transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return
    marked = session.info.pop(_COMMITTING, None)
    engine = engine_of(session)
    if not marked or engine is None:
        return
    for cache in caches_of(database_of(engine)):
        cache.ended(marked)


def _disposed(engine: Engine) -> None:
    with _CACHES_LOCK:
        cache = _CACHES.pop(engine, None)
    if cache is not None:
        cache.close()


def _entries_in_process() -> float:
    with _CACHES_LOCK:
        return float(sum(len(c) for c in _CACHES.values()))


def _listen_once() -> None:
    if not event.contains(Session, "before_commit", _before_commit):
        event.listen(Session, "before_commit", _before_commit)
        event.listen(Session, "after_transaction_end", _transaction_end)
        ENTITLEMENT_CACHE_ENTRIES.set_function(_entries_in_process)
