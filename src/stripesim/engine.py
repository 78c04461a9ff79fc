"""Time-driven work: what becomes due as real time passes or a test clock advances.

Billing modules register timers per object type: when the record's next due time has come,
`fire` runs with the simulated time set to exactly that moment. Advancing a clock fires due
work in time order, so a renewal, its invoice, its retries and a trial end happen in the
sequence they would in a month of real time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stripesim.state import Record, State


@dataclass
class Timer:
    object_type: str
    next_due: Callable[[State, Record], int | None]
    fire: Callable[[State, Record, int], None]
    priority: int = 100  # lower fires first when two are due at the same second


TIMERS: list[Timer] = []


def timer(
    object_type: str, next_due: Callable[[State, Record], int | None], priority: int = 100
) -> Callable[[Callable[[State, Record, int], None]], Callable[[State, Record, int], None]]:
    def register(fire: Callable[[State, Record, int], None]) -> Callable[[State, Record, int], None]:
        TIMERS.append(Timer(object_type, next_due, fire, priority))
        return fire

    return register


class Engine:
    def __init__(self, state: State) -> None:
        self.state = state

    def _next(self, clock: str | None, until: int) -> tuple[int, Timer, Record] | None:
        best: tuple[int, Timer, Record] | None = None
        for t in TIMERS:
            for record in list(self.state.all(t.object_type)):
                if self.state.clock_of(record) != clock:
                    continue
                due = t.next_due(self.state, record)
                if due is None or due > until:
                    continue
                if best is None or (due, t.priority) < (best[0], best[1].priority):
                    best = (due, t, record)
        return best

    def run_due(self, clock: str | None, until: int, *, max_steps: int = 10_000) -> int:
        """Fire everything due on `clock` up to `until`, in time order. Returns the count."""
        fired = 0
        clock_record = self.state.find(clock) if clock else None
        while fired < max_steps:
            nxt = self._next(clock, until)
            if nxt is None:
                break
            due, t, record = nxt
            if clock_record is not None and due > clock_record["frozen_time"]:
                clock_record["frozen_time"] = due
            t.fire(self.state, record, max(due, self.state.now(clock)))
            fired += 1
        if clock_record is not None:
            clock_record["frozen_time"] = until
        return fired
