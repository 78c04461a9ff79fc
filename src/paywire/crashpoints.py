"""Named points where a test can make this process die as `kill -9` would.

`PAYWIRE_TEST_CRASH_AT="point[,point…]"` and `PAYWIRE_TEST_CRASH_PROBABILITY` (default 1)
are read once at start-up; unset, as in production, `reached()` is one set lookup. The
crash-safety tests run real `paywire worker` processes with these set and restart them
after each death: nothing may be lost and nothing done twice, wherever the process dies.

Points: `mirror_written_before_commit` (the handler's writes and the events' marks are in
the transaction, not committed), `events_committed` (committed, reactions not delivered),
`reaction_done_before_record` (an email sent, not yet recorded).
"""

from __future__ import annotations

import os
import random
import signal

_POINTS = frozenset(p.strip() for p in os.environ.get("PAYWIRE_TEST_CRASH_AT", "").split(",") if p.strip())
_PROBABILITY = float(os.environ.get("PAYWIRE_TEST_CRASH_PROBABILITY", "1") or 1)


def reached(point: str) -> None:
    if point in _POINTS and random.random() < _PROBABILITY:
        os.kill(os.getpid(), signal.SIGKILL)
