"""How a worker obeys the receiver's holds (`InboxBell.hold`: a burst of webhooks is being
acknowledged, and every claim would take CPU and, on SQLite, the database lock from it)."""

from __future__ import annotations


class HoldPolicy:
    """A worker pauses between claims while held, never in the middle of a batch, and at most
    `max_seconds` in a row; then it works at least `break_seconds` whatever the receiver says,
    so a burst that never ends still leaves the mirror a share of the time."""

    def __init__(self, max_seconds: float = 2.0, break_seconds: float = 0.5, step: float = 0.05) -> None:
        self.max_seconds = max_seconds
        self.break_seconds = break_seconds
        self.step = step
        self._since: float | None = None  # when the current run of holds began

    def pause(self, held_for: float, now: float) -> float:
        """How long to wait before the next claim (0: claim now)."""
        if held_for <= 0:
            self._since = None
            return 0.0
        if self._since is None or now - self._since >= self.max_seconds + self.break_seconds:
            self._since = now
        if now - self._since >= self.max_seconds:
            return 0.0  # held long enough in a row: a break to work, holds or not
        return min(held_for, self.step)
