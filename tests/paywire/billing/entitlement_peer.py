"""Entitlement checks from another process, for the cache's tests.

`Peer` spawns a process with its own engine and so its own entitlement cache, which hears of
the test process's changes only through the invalidation channel (PostgreSQL NOTIFY, the poll
on SQLite), and drives it over a pipe. `Sampler` (in either process) checks users in a loop,
each check from the cache followed by a fresh read of the mirror, all timed on the machine's
monotonic clock (one clock for every process), so a test can line every cached answer up
with what the mirror said around it.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection
from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy.orm import Session, sessionmaker

from paywire.billing.entitlements import Entitlement, entitlement_for
from paywire.catalog import load_catalog
from paywire.config import Settings, load_settings
from paywire.db.engine import make_engine, make_session_factory

Key = tuple[bool, str | None, str | None, str | None]


def key_of(entitlement: Entitlement) -> Key:
    """What a check answers that matters here: access, plan, lifecycle state, the plan a
    pending change leads to."""
    pending = entitlement.pending_change.plan if entitlement.pending_change is not None else None
    return (entitlement.access, entitlement.plan, entitlement.state, pending)


@dataclass(frozen=True)
class Sample:
    user_id: str
    started: float  # time.monotonic()
    ended: float
    key: Key
    fresh: bool  # a read of the mirror (True) or a check from the cache
    process: str


class Checker:
    """Checks entitlements as an app of this process does, timed."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings, process: str) -> None:
        self.sessions = sessions
        self.settings = settings
        self.process = process
        self.catalog = load_catalog(settings.catalog_path)

    def key(self, user_id: str, *, fresh: bool = False) -> Key:
        with self.sessions() as session:
            found = entitlement_for(
                session,
                user_id,
                catalog=self.catalog,
                grace_seconds=self.settings.grace_seconds,
                fresh=fresh,
                settings=self.settings,
            )
        return key_of(found)

    def check(self, user_id: str, *, fresh: bool = False) -> Sample:
        started = time.monotonic()
        found = self.key(user_id, fresh=fresh)
        return Sample(user_id, started, time.monotonic(), found, fresh, self.process)


class Sampler:
    """Checks `users` over and over from a thread until stopped: from the cache (`cached`),
    then a read of the mirror (`fresh`), a few milliseconds apart."""

    def __init__(
        self, users: list[str], cached: Callable[[str], Key], fresh: Callable[[str], Key], process: str
    ) -> None:
        self.users = users
        self.cached = cached
        self.fresh = fresh
        self.process = process
        self.samples: list[Sample] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sampler-{process}", daemon=True)
        self._thread.start()

    def _sample(self, user_id: str, fresh: bool) -> None:
        started = time.monotonic()
        found = (self.fresh if fresh else self.cached)(user_id)
        self.samples.append(Sample(user_id, started, time.monotonic(), found, fresh, self.process))

    def _run(self) -> None:
        while not self._stop.is_set():
            for user_id in self.users:
                try:
                    self._sample(user_id, fresh=False)
                    self._sample(user_id, fresh=True)
                except Exception as exc:  # reported to the test, which fails on it
                    self.errors.append(repr(exc))
            self._stop.wait(0.005)  # leave the CPU to what is being checked

    def stop(self) -> list[Sample]:
        self._stop.set()
        self._thread.join(timeout=30)
        if self.errors:
            raise AssertionError(f"{self.process}: checks failed: {self.errors[:3]}")
        return self.samples


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _serve(pipe: Connection, database_url: str, overrides: dict[str, Any]) -> None:
    settings = load_settings(_env_file=None, DATABASE_URL=database_url, **overrides)
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    checker = Checker(sessions, settings, "peer")
    sampler: Sampler | None = None
    try:
        while True:
            command, args = pipe.recv()
            if command == "watch":
                sampler = Sampler(list(args), checker.key, partial(checker.key, fresh=True), "peer")
                pipe.send(None)
            elif command == "samples":
                pipe.send(sampler.stop() if sampler is not None else [])
                sampler = None
            elif command == "check":
                pipe.send(checker.check(str(args[0]), fresh=bool(args[1])))
            elif command == "counter":
                pipe.send(counter(str(args[0]), **dict(args[1])))
            else:
                pipe.send(None)
                return
    finally:
        engine.dispose()


class Peer:
    """The other process."""

    def __init__(self, database_url: str, **overrides: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, database_url, overrides), daemon=True)
        self.process.start()
        child.close()

    def _ask(self, command: str, *args: Any) -> Any:
        self._pipe.send((command, args))
        if not self._pipe.poll(120):
            raise AssertionError(f"the peer process did not answer {command}")
        return self._pipe.recv()

    def check(self, user_id: str, *, fresh: bool = False) -> Sample:
        found: Sample = self._ask("check", user_id, fresh)
        return found

    def watch(self, users: list[str]) -> None:
        self._ask("watch", *users)

    def samples(self) -> list[Sample]:
        found: list[Sample] = self._ask("samples")
        return found

    def counter(self, name: str, **labels: str) -> float:
        return float(self._ask("counter", name, tuple(labels.items())))

    def close(self) -> None:
        try:
            self._ask("exit")
        finally:
            self.process.join(timeout=30)
            if self.process.is_alive():
                self.process.kill()


def wait_until(what: str, probe: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll `probe` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def stale_checks(samples: list[Sample], bound: float) -> list[tuple[Sample, Sample, Sample]]:
    """Cached answers the mirror cannot have given within `bound` before them.

    For each cached check C answering X, the fresh reads (of every process) are the mirror's
    timeline: the last one before C that read X is L, the first one after L that read
    something else is N. The mirror showed X at L and had moved on before N ended; C is
    possible only if that move can have come at or after C.started - bound, i.e. unless N
    ended before then, or the mirror can have come back to X before C ended (a pause undone:
    the first read of X again after N follows a read of something else that started before C
    ended). A cached answer no read before it gave is newer than the reads, not stale (the
    mirror moved to it between two reads): sampling starts before any change, so every old
    answer was read at least once."""
    found = []
    for cached, last, moved in _moves_after_answers(samples):
        if moved.ended < cached.started - bound:
            found.append((cached, last, moved))
    return found


def longest_lag(samples: list[Sample]) -> float:
    """The longest a cached answer was seen to trail the mirror: from the end of the first read
    showing the mirror had moved on, to the start of a cached check still answering the old."""
    return max((cached.started - moved.ended for cached, _, moved in _moves_after_answers(samples)), default=0.0)


def _moves_after_answers(samples: list[Sample]) -> list[tuple[Sample, Sample, Sample]]:
    """Each cached check C whose answer the mirror had left (as far as the fresh reads show, see
    `stale_checks`) before C ended: (C, the last read of its answer L, the first read after L of
    something else N)."""
    by_user: dict[str, list[Sample]] = {}
    for sample in samples:
        if sample.fresh:
            by_user.setdefault(sample.user_id, []).append(sample)
    for reads in by_user.values():
        reads.sort(key=lambda s: s.started)
    found = []
    for cached in (s for s in samples if not s.fresh):
        reads = by_user.get(cached.user_id, [])
        last = next((r for r in reversed(reads) if r.started <= cached.ended and r.key == cached.key), None)
        if last is None:
            continue
        moved = next((r for r in reads if r.started > last.started and r.key != cached.key), None)
        if moved is None:
            continue
        again = next((r for r in reads if r.started > moved.started and r.key == cached.key), None)
        if again is not None:
            left = max(r.started for r in reads if r.started < again.started and r.key != cached.key)
            if left <= cached.ended:
                continue  # the mirror can have come back to the answer before C ended
        found.append((cached, last, moved))
    return found
