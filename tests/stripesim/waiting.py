"""Waiting for something to become true, with a deadline: tests assert what happened, never
that a fixed pause was long enough."""

from __future__ import annotations

import time
from collections.abc import Callable

POLL_S = 0.02


def wait_until(condition: Callable[[], object], timeout: float = 15.0, message: str | Callable[[], str] = "") -> None:
    """Return as soon as `condition()` is true; fail with `message` if it is not by the deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError((message() if callable(message) else message) or "condition not reached in time")
        time.sleep(POLL_S)
