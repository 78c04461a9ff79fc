"""Waking an events worker that runs in another process of the same `paywire serve`.

A worker thread in the receiving process hears its `InboxBell`; a worker in a child process needs the
same signal across the process boundary. The worker process binds a Unix datagram socket
and turns every datagram into `ring()` (and `hold()` when the byte says a burst is being
acknowledged); the receiver, after committing a batch, sends one byte to it without
blocking. A lost or refused datagram costs nothing but the wait until the worker's next
poll, so every error on the sending side is ignored.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import tempfile
import threading
import time
from pathlib import Path

from paywire.events.bell import InboxBell

log = logging.getLogger("paywire.events.wakeup")


def new_address() -> str:
    """A fresh socket path in a private directory (removed by `remove_address`)."""
    return str(Path(tempfile.mkdtemp(prefix="paywire-bell-")) / "bell.sock")


def metrics_snapshot(address: str) -> Path:
    """Where the worker process listening at `address` writes its metrics (`paywire.metrics`)."""
    return Path(address).with_name("metrics.prom")


def remove_address(address: str) -> None:
    for path in (address, str(metrics_snapshot(address))):
        with contextlib.suppress(OSError):
            os.unlink(path)
    with contextlib.suppress(OSError):
        os.rmdir(os.path.dirname(address))


class RemoteBell:
    """The receiver's side: ring a worker listening at `address`."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.setblocking(False)

    def ring(self, *, hold: bool = False) -> None:
        """Events are waiting; `hold`: and a burst is being acknowledged (see InboxBell.hold)."""
        # Full buffer (the worker is busy and has rings pending anyway), or no listener yet.
        with contextlib.suppress(OSError):
            self._socket.sendto(HOLD if hold else RING, self.address)

    def close(self) -> None:
        self._socket.close()


RING, HOLD = b"\x00", b"\x01"  # the datagrams: events are waiting; … and hold off a moment

# A woken idle worker waits this long before claiming, so the webhooks of the next few
# milliseconds are claimed with the first (one claim and one transaction for many, instead of
# one each: on SQLite each is a turn of the write lock the receiver also needs). Far below
# what convergence is measured in; a busy worker never waits.
LINGER_SECONDS = 0.02


class WorkersBell(InboxBell):
    """The bell of several workers in one process: each ring wakes one idle worker, not all
    of them (a woken worker that finds nothing claimed costs a claim's round trips; with four
    workers and one webhook at a time that was four claims per event). A ring nobody waits
    for is kept, up to one per worker, for the next to wait."""

    def __init__(self, workers: int, linger: float = LINGER_SECONDS) -> None:
        super().__init__()
        self._workers = workers
        self._linger = linger
        self._pending = 0
        self._condition = threading.Condition()
        self.idle = 0  # workers waiting for a ring right now

    def ring(self) -> None:
        with self._condition:
            self._pending = min(self._pending + 1, self._workers)
            self._condition.notify()

    def ring_all(self) -> None:
        with self._condition:
            self._pending = self._workers
            self._condition.notify_all()

    def wait(self, timeout: float) -> bool:
        with self._condition:
            if not self._pending:
                self.idle += 1
                self._condition.wait(timeout)
                self.idle -= 1
            if not self._pending:
                return False
            self._pending -= 1
        if self._linger:
            time.sleep(self._linger)
        return True


def relay(address: str, bell: InboxBell) -> threading.Thread:
    """The worker's side: bind `address` and ring `bell` for every datagram, from a daemon
    thread that lives as long as the process."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(address)
    listener.bind(address)

    def run() -> None:
        while True:
            try:
                message = listener.recv(64)
            except OSError:
                log.warning("the worker's wake-up socket failed; polling only", exc_info=True)
                return
            if HOLD in message:
                bell.hold()
            bell.ring()

    thread = threading.Thread(target=run, name="paywire-worker-wakeup", daemon=True)
    thread.start()
    return thread
