"""A doorbell between the receiver and an in-process worker.

A worker in the same process need not wait for its next poll: the receiver rings after
storing an event. Workers in other processes simply poll; the bell is an optimisation,
never the only way an event gets picked up.
"""

from __future__ import annotations

import threading


class InboxBell:
    def __init__(self) -> None:
        self._rung = threading.Event()

    def ring(self) -> None:
        self._rung.set()

    def wait(self, timeout: float) -> bool:
        """Wait until rung or `timeout` seconds pass; True if rung. Resets the bell."""
        rung = self._rung.wait(timeout)
        self._rung.clear()
        return rung


INBOX_BELL = InboxBell()
