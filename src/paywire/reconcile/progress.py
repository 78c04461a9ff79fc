"""A one-line progress bar on a terminal (stderr), without a dependency.

Stripe's lists do not say how long they are, so the bar's length is an estimate: the number
of rows the mirror holds (the mirror is close to Stripe, or there would be nothing to sync),
stretched when the count passes it. Off a terminal nothing is drawn; the summary says it all.
"""

from __future__ import annotations

import time
from typing import TextIO

WIDTH = 24
REDRAW_SECONDS = 0.1


class ProgressBar:
    def __init__(self, stream: TextIO, *, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.label = ""
        self.done = 0
        self.expected = 0
        self.drift = 0
        self._drawn_at = float("-inf")
        self._shown = False

    def start(self, label: str, *, expected: int, done: int = 0) -> None:
        self.label, self.expected, self.done, self.drift = label, expected, done, 0
        self._drawn_at = float("-inf")
        self.draw()

    def advance(self) -> None:
        self.done += 1
        if time.monotonic() - self._drawn_at >= REDRAW_SECONDS:
            self.draw()

    def drifted(self) -> None:
        self.drift += 1

    def finish(self) -> None:
        self.expected = self.done
        self.draw()
        if self.enabled and self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False

    def clear(self) -> None:
        """Make room for a line of other output; the next draw brings the bar back."""
        if self.enabled and self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._shown = False

    def draw(self) -> None:
        if not self.enabled:
            return
        self._drawn_at = time.monotonic()
        self.stream.write("\r\033[K" + render(self.label, self.done, self.expected, self.drift))
        self.stream.flush()
        self._shown = True


def render(label: str, done: int, expected: int, drift: int) -> str:
    """`subscriptions [██████░░░░░░]  52/~80  drift 3` (pure)."""
    total = max(expected, done)
    filled = WIDTH if total == 0 else WIDTH * done // total
    approx = "" if done >= expected else "~"
    return f"{label:<13} [{'█' * filled}{'░' * (WIDTH - filled)}] {done:>6}/{approx}{total}  drift {drift}"
