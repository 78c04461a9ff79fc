"""Time-driven work: what becomes due as real time passes or a test clock advances.

Billing modules register timers per object type: when the record's next due time has come,
`fire` runs with the simulated time set to exactly that moment. Advancing a clock fires due
work in time order, so a renewal, its invoice, its retries and a trial end happen in the
sequence they would in a month of real time.

The due work of a clock is kept in a heap (one scan of its records to start), and after each
firing only the records it touched (created, changed or announced: `State.trackers`) are
looked at again, so a clock with ten thousand subscriptions renews them all in one advance
in seconds rather than hours. An advance can run a slice at a time (`Advance.run`), leaving
the API and webhook deliveries their turn in between, as Stripe works through an advance
while still answering.
"""

from __future__ import annotations

import heapq
import time
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
# Firings in one advance before it is taken for a loop that never ends.
MAX_STEPS = 2_000_000


def timer(
    object_type: str, next_due: Callable[[State, Record], int | None], priority: int = 100
) -> Callable[[Callable[[State, Record, int], None]], Callable[[State, Record, int], None]]:
    def register(fire: Callable[[State, Record, int], None]) -> Callable[[State, Record, int], None]:
        TIMERS.append(Timer(object_type, next_due, fire, priority))
        return fire

    return register


# A heap entry: (due, timer priority, timer index, -insertion order, record id). Ties go, as
# they always have, to the timer registered first and then to the newest record.
Entry = tuple[int, int, int, int, str]


class Advance:
    """The work due on `clock` (None: objects on no clock) up to `until`, fired in time order."""

    def __init__(
        self,
        state: State,
        clock: str | None,
        until: int,
        *,
        max_steps: int = MAX_STEPS,
        clocks: dict[str, str] | None = None,
    ) -> None:
        self.state = state
        self.clock = clock
        self.until = until
        # Records seen on a test clock, and which (`Engine.clocks`): a record's clock never
        # changes once it has one, so the others' advances pass them by without looking.
        self._clocks = clocks
        self.max_steps = max_steps
        self.fired = 0
        self.done = False
        self._heap: list[Entry] = []
        self._later: int | None = None  # the earliest due seen beyond `until`
        self._queued: dict[tuple[str, int], int] = {}  # (record, timer index) -> due queued
        self._order: dict[str, int] = {}  # record id -> insertion order within its type
        self._touched: set[str] = set()
        state.trackers.append(self._touched)
        on_clock = (clocks or {}).get
        for object_type in {t.object_type for t in TIMERS}:
            for position, object_id in enumerate(state.by_type.get(object_type, [])):
                seen_on = on_clock(object_id)
                if seen_on is not None and seen_on != clock:
                    continue
                self._order[object_id] = position
                self._consider(object_id)

    def run(self, seconds: float | None = None) -> bool:
        """Fire due work, for at most `seconds` (None: until none is left); True once done."""
        deadline = None if seconds is None else time.monotonic() + seconds
        state = self.state
        clock_record = state.find(self.clock) if self.clock else None
        while self._heap and self.fired < self.max_steps:
            if deadline is not None and time.monotonic() > deadline:
                return False
            due, _, index, _, object_id = heapq.heappop(self._heap)
            if self._queued.get((object_id, index)) != due:
                continue  # superseded by a later entry for the same record and timer
            del self._queued[(object_id, index)]
            record = self._live(object_id)
            t = TIMERS[index]
            if record is None or record.get("object") != t.object_type:
                continue
            now_due = t.next_due(state, record)
            if now_due != due:
                self._push(object_id, index, now_due)
                continue
            if clock_record is not None and due > clock_record["frozen_time"]:
                clock_record["frozen_time"] = due
            t.fire(state, record, max(due, state.now(self.clock)))
            self.fired += 1
            self._touched.add(object_id)
            self._reconsider()
        self.finish()
        return True

    @property
    def wakes_at(self) -> int | None:
        """When work may next be due (no earlier, unless a record changes): the earliest due
        seen beyond `until`, or one left in the heap (a run cut short); None: nothing is."""
        dues = [d for d in (self._later, self._heap[0][0] if self._heap else None) if d is not None]
        return min(dues) if dues else None

    def finish(self) -> None:
        if not self.done:
            self.done = True
            # By identity: sets compare by value, and another advance's set (emptied after
            # each firing) would equal this one and be the one taken away.
            self.state.trackers[:] = [t for t in self.state.trackers if t is not self._touched]
            clock_record = self.state.find(self.clock) if self.clock else None
            if clock_record is not None:
                clock_record["frozen_time"] = self.until

    def _reconsider(self) -> None:
        touched = list(self._touched)
        self._touched.clear()
        for object_id in touched:
            self._consider(object_id)

    def _consider(self, object_id: str) -> None:
        record = self._live(object_id)
        if record is None:
            return
        object_type = record.get("object")
        for index, t in enumerate(TIMERS):
            if t.object_type == object_type:
                self._push(object_id, index, t.next_due(self.state, record))

    def _push(self, object_id: str, index: int, due: int | None) -> None:
        key = (object_id, index)
        if due is None or due > self.until:
            self._queued.pop(key, None)
            if due is not None and (self._later is None or due < self._later):
                self._later = due
            return
        if self._queued.get(key) == due:
            return
        self._queued[key] = due
        order = self._order.get(object_id)
        if order is None:  # created since the advance started: the newest
            order = self._order[object_id] = len(self._order) + 1_000_000_000
        heapq.heappush(self._heap, (due, TIMERS[index].priority, index, -order, object_id))

    def _live(self, object_id: str) -> Record | None:
        record = self.state.objects.get(object_id)
        if record is None or record.get("deleted"):
            return None
        clock = self.state.clock_of(record)
        if clock is not None and self._clocks is not None:
            self._clocks[object_id] = clock
        return record if clock == self.clock else None


class Engine:
    def __init__(self, state: State) -> None:
        self.state = state
        self._clocks: dict[str, str] = {}
        self._clocks_of: dict[str, Record] | None = None

    @property
    def clocks(self) -> dict[str, str]:
        """The test clock of every record an advance found on one (for the state's records:
        a state reset or loaded starts it again). The real-time tick looks at every record
        each second at a storm: those on a clock, most of them, it now passes by."""
        if self._clocks_of is not self.state.objects:
            self._clocks, self._clocks_of = {}, self.state.objects
        return self._clocks

    def advance(self, clock: str | None, until: int) -> Advance:
        """The work due on `clock` up to `until`, to run (`Advance.run`) a slice at a time."""
        return Advance(self.state, clock, until, clocks=self.clocks)

    def run_due(self, clock: str | None, until: int, *, max_steps: int = MAX_STEPS) -> int:
        """Fire everything due on `clock` up to `until`, in time order. Returns the count."""
        return self.work_off(clock, until, max_steps=max_steps).fired

    def work_off(self, clock: str | None, until: int, *, max_steps: int = MAX_STEPS) -> Advance:
        """`run_due`, returning the finished advance (what it fired, when work is next due)."""
        work = Advance(self.state, clock, until, max_steps=max_steps, clocks=self.clocks)
        try:
            work.run()
        finally:
            work.finish()
        return work
