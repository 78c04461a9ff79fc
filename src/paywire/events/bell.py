"""A doorbell between the receiver and an in-process worker.

A worker in the same process need not wait for its next poll: the receiver rings after
storing an event, and asks for a hold while it acknowledges a burst. Workers in other
processes get both through `paywire.events.wakeup`, or poll; the bell is an optimisation,
never the only way an event gets picked up.
"""

from __future__ import annotations

import threading
import time

# A hold asks the workers to claim nothing for this long (renewed by every burst batch).
HOLD_SECONDS = 0.05


class InboxBell:
    def __init__(self) -> None:
        self._rung = threading.Event()
        self._held_until = float("-inf")  # time.monotonic()

    def hold(self, seconds: float = HOLD_SECONDS) -> None:
        """The receiver is acknowledging a burst: workers should not start a claim for
        `seconds` (each burst batch renews it). A worker bounds how long it obeys
        (`paywire.events.hold.HoldPolicy`), so a hold delays the mirror, never stops it."""
        self._held_until = max(self._held_until, time.monotonic() + seconds)

    def held_for(self) -> float:
        """Seconds the current hold has left (0: none)."""
        return max(0.0, self._held_until - time.monotonic())

    def ring(self) -> None:
        self._rung.set()

    def wait(self, timeout: float) -> bool:
        """Wait until rung or `timeout` seconds pass; True if rung. Resets the bell."""
        rung = self._rung.wait(timeout)
        self._rung.clear()
        return rung
