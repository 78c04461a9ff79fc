"""Group commit: many callers hand their rows to one writer thread, which writes whatever is
waiting together, so that under load many callers share one round trip and one commit.

`GroupCommit` is the machinery the inbox writer (`paywire.events.store`) and the usage writer
(`paywire.usage.writer`) share: the queue, the writer thread started on first use and ended
after a while without work, the batches it takes from the queue, and a clean stop. What a
batch is written with, and how callers are answered, is the owner's `write_batches`.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

T = TypeVar("T")

_STOP = object()


class GroupCommit(Generic[T]):
    """One writer thread at a time takes batches of waiting items from the queue and hands
    them, as an iterator, to `write_batches`, which must answer every item of each batch.

    A batch holds items up to `max_size` (each counts `size_of(item)`, or one), and at least
    one. The thread ends after `idle_seconds` without work (the iterator ends: let go of any
    connection) and the next `put` starts another. Items that reach a closed writer are
    handed to `refuse`, once, in a list.
    """

    def __init__(
        self,
        write_batches: Callable[[Iterator[list[T]]], None],
        refuse: Callable[[list[T]], None],
        *,
        name: str,
        max_size: int,
        idle_seconds: float,
        size_of: Callable[[T], int] | None = None,
    ) -> None:
        self._write_batches = write_batches
        self._refuse = refuse
        self._name = name
        self._max_size = max_size
        self._idle_seconds = idle_seconds
        self._size_of = size_of
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.closed = False  # read it, do not set it: `close()` does

    @property
    def running(self) -> bool:
        """A writer thread holds the slot (it gives it up when idle or closed)."""
        return self._thread is not None

    def put(self, item: T) -> None:
        """Queue one item for the writer thread, starting it if there is none."""
        self._queue.put(item)
        if self._thread is None:
            self._start()

    def close(self, timeout: float = 10.0) -> None:
        """Write what is waiting, then stop; refuse whatever comes later."""
        with self._lock:
            self.closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout)
        self._refuse_waiting()

    def _start(self) -> None:
        with self._lock:
            if self.closed:
                self._refuse_waiting()
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        try:
            self._write_batches(self._batches())
        finally:
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread = None

    def _batches(self) -> Iterator[list[T]]:
        while (batch := self._next_batch()) is not None:
            yield batch

    def _next_batch(self) -> list[T] | None:
        """What is waiting, up to `max_size`; None when it is time to stop."""
        try:
            first = self._queue.get(timeout=self._idle_seconds)
        except queue.Empty:
            with self._lock:
                # Give up the thread slot first, then look again: an item queued before this
                # point is seen here, one queued after it finds no writer and starts one.
                me, self._thread = self._thread, None
                if self._queue.empty():
                    return None
                self._thread = me
            first = self._queue.get()
        if first is _STOP:
            return None
        size_of = self._size_of
        batch = [first]
        size = 1 if size_of is None else size_of(first)
        while size < self._max_size:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                self._queue.put(_STOP)  # after this batch
                break
            batch.append(item)
            size += 1 if size_of is None else size_of(item)
        return batch

    def _refuse_waiting(self) -> None:
        waiting: list[T] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                waiting.append(item)
        if waiting:
            self._refuse(waiting)


def database_unreachable(exc: Exception) -> bool:
    """The database, not a row, is the problem: writing a batch's rows one by one would only
    wait longer."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated
