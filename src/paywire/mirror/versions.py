"""The version of a read, and when a stored read makes another one needless (see the package
docstring for why both are safe)."""

from __future__ import annotations

import time
from datetime import datetime


def read_version() -> int:
    """The version of a snapshot whose read starts now: µs since the epoch."""
    return time.time_ns() // 1000


def covers(received_at: datetime | None, stored_version: int | None, clock_skew: float) -> bool:
    """Whether a stored read started after events received at `received_at` (the last of
    them), plus the hosts' clock margin: re-reading cannot show anything they announce."""
    if received_at is None or stored_version is None:
        return False
    return stored_version >= int((received_at.timestamp() + clock_skew) * 1_000_000)
