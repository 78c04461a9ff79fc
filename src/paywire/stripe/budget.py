"""One request budget for the whole deployment: every request to Stripe waits for its slot.

Stripe answers 429 above about 100 requests a second in live mode and 25 in test mode, for
the account, whoever sends them. paywire's servers, workers and commands draw on one budget
(PAYWIRE_STRIPE_RATE_LIMIT, default 80/s with a live key, 20/s with a test key), kept where
they all see it (`paywire.stripe.budget_store`: a row in PostgreSQL, a small file beside a
SQLite database), and every HTTP request the SDK makes, retries included, takes one slot.

Slots are spaced evenly (a generic cell rate algorithm: the shared state is the next free
slot), so requests leave at the rate, never in bursts: (1 s + 40 ms)/(rate - ½) apart, so that
no second, wherever it starts, holds more than `rate` requests as Stripe counts them, even when
a busy machine wakes a caller up to half a slot late (later than that, it books again) and the
way to Stripe delays one request up to 40 ms more than another. Priorities decide who may
book ahead: a caller books the next free slot only while it is at most its priority's
*horizon* away. A person waiting (`Priority.INTERACTIVE`: checkout, portal, previews, plan
changes) may book far ahead; the events worker's reads (`MIRROR`) a quarter of a second;
recovery scans, `paywire sync`, backfills, the usage sender and the reactions' requests (a
receipt's link; `BACKGROUND`) only a free slot now. So whatever the others have booked, a
person's request waits at most a quarter of a second behind them, and background work only
uses what is left over. A slot that passed less than half a slot ago, unbooked, is still
free: whoever waited for it and woke late takes it, so a caller that only takes free slots
keeps the rate instead of losing its lateness.

Who draws at which priority follows the code that runs (a context variable): requests are
`INTERACTIVE` unless the caller says otherwise with `at_priority(Priority.MIRROR)` (the
worker does, for its loop and its re-read threads) or `at_priority(Priority.BACKGROUND)`.

A 429 from Stripe halves the rate for everyone (not below 1/s) and holds it there for
`hold` seconds (10), then lets it grow back to the configured rate over `recovery` seconds
(20); each further 429 halves it again. `Stripe-Should-Retry: false` is not retried. The
requests by priority, the time spent waiting for a slot, the 429s and the rate in force are
in `/metrics`.
"""

from __future__ import annotations

import contextlib
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Protocol

from paywire.metrics import (
    STRIPE_BUDGET_RATE,
    STRIPE_BUDGET_WAIT_SECONDS,
    STRIPE_RATE_LIMITED,
    STRIPE_REQUESTS,
)
from paywire.stripe.errors import StripeUnavailable

# After a 429: the rate is halved (never below this), held, then grows back linearly.
MIN_RATE = 1.0
HOLD_SECONDS = 10.0
RECOVERY_SECONDS = 20.0
# Honouring Stripe's Retry-After pauses every caller, but never longer than this.
MAX_PAUSE_SECONDS = 5.0
# A caller that wakes up more than this share of a slot after its slot (a busy machine)
# books again rather than send late.
LATE_SHARE = 0.5
# How much longer the way to Stripe (the network, a proxy, Stripe's own front) may take for one
# request than for another. Slots leave room for both (`slot_seconds`), so that no second,
# wherever it starts, holds more than `rate` requests where Stripe counts them.
TRANSIT_JITTER_SECONDS = 0.04
# A waiting caller looks at the budget again at least this often.
MIN_POLL_SECONDS = 0.005
MAX_POLL_SECONDS = 0.5


class Priority(IntEnum):
    """Who goes first when the budget is short: lower values first."""

    INTERACTIVE = 0  # a person waits for the answer (checkout, portal, preview, plan change)
    MIRROR = 1  # the events worker's reads of what an event announced
    BACKGROUND = 2  # recovery scans, `paywire sync`, backfills, the usage sender, reactions

    @property
    def label(self) -> str:
        return self.name.lower()


# How far ahead of now each priority may book a slot (seconds). INTERACTIVE books any slot
# up to the request's own bound (`max_wait`).
HORIZONS: dict[Priority, float] = {Priority.MIRROR: 0.25, Priority.BACKGROUND: 0.0}

_PRIORITY: ContextVar[Priority] = ContextVar("paywire_stripe_priority", default=Priority.INTERACTIVE)


@contextlib.contextmanager
def at_priority(priority: Priority) -> Iterator[None]:
    """Requests made inside the block (in this thread or task) draw at `priority`."""
    token = _PRIORITY.set(priority)
    try:
        yield
    finally:
        _PRIORITY.reset(token)


def current_priority() -> Priority:
    return _PRIORITY.get()


def set_thread_priority(priority: Priority) -> None:
    """For a thread that only ever works at one priority (a pool's initializer)."""
    _PRIORITY.set(priority)


@dataclass(frozen=True)
class BudgetState:
    """What every process shares. Times are Unix seconds (the hosts' clocks agree, as the
    mirror's version rule already assumes)."""

    next_slot: float  # the first slot nobody has booked
    shrunk_rate: float | None = None  # the rate a 429 left, None: the configured rate
    held_until: float = 0.0  # the shrunk rate holds until then, then grows back


def rate_in_force(state: BudgetState, configured: float, now: float) -> float:
    """The rate at `now`: the configured one, or what a recent 429 left of it."""
    if state.shrunk_rate is None or state.shrunk_rate >= configured:
        return configured
    if now <= state.held_until:
        return state.shrunk_rate
    grown = (now - state.held_until) / RECOVERY_SECONDS
    return min(configured, state.shrunk_rate + (configured - state.shrunk_rate) * grown)


@dataclass(frozen=True)
class Booking:
    slot: float | None  # when the request may leave; None: not booked
    retry_at: float  # when not booked: when to look again
    rate: float  # the rate in force


def slot_seconds(rate: float) -> float:
    """How far apart slots are at `rate` (at least MIN_RATE). Of `rate + 1` requests in a
    row (`rate` gaps), the last must reach Stripe at least a second after the first, even if
    the first left half a slot late (LATE_SHARE) and the last's way took
    TRANSIT_JITTER_SECONDS less: rate * gap - LATE_SHARE * gap - TRANSIT_JITTER_SECONDS >= 1 s."""
    return (1.0 + TRANSIT_JITTER_SECONDS) / (rate - LATE_SHARE)


def book(state: BudgetState | None, *, now: float, horizon: float, configured: float) -> tuple[BudgetState, Booking]:
    """Book the next free slot if it is at most `horizon` seconds away (pure)."""
    state = state or BudgetState(next_slot=now)
    rate = rate_in_force(state, configured, now)
    # The first free slot, even if it passed a moment ago: a caller that waited for it and
    # woke a little late (a busy machine) takes it, leaving within the lateness every slot
    # allows. Booking now instead would lose that lateness on every request of a caller that
    # only takes free slots (`paywire sync`: about a tenth of its pace).
    start = state.next_slot if now - state.next_slot <= LATE_SHARE * slot_seconds(rate) else now
    if start - now > horizon:
        return state, Booking(None, start - horizon, rate)
    return replace(state, next_slot=start + slot_seconds(rate)), Booking(start, start, rate)


def shrink(state: BudgetState | None, *, now: float, configured: float, pause: float) -> BudgetState:
    """A 429: half the rate in force, held for a while; nobody sends before `now + pause`."""
    state = state or BudgetState(next_slot=now)
    halved = max(MIN_RATE, rate_in_force(state, configured, now) / 2)
    return BudgetState(
        next_slot=max(state.next_slot, now + min(max(pause, 0.0), MAX_PAUSE_SECONDS)),
        shrunk_rate=halved,
        held_until=now + HOLD_SECONDS,
    )


class BudgetStore(Protocol):
    """Where the state lives: `change` runs on the stored state (None: none yet) inside one
    transaction that holds it exclusively, and what it returns is stored."""

    def change(self, change: Callable[[BudgetState | None], BudgetState]) -> BudgetState: ...


class BudgetExhausted(StripeUnavailable):
    """A request would wait longer for its slot than its caller can."""


class MemoryStore:
    """The budget of one process (tests; an in-memory SQLite database)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: BudgetState | None = None

    def change(self, change: Callable[[BudgetState | None], BudgetState]) -> BudgetState:
        with self._lock:
            self._state = change(self._state)
            return self._state


class RequestBudget:
    """Slots for requests to Stripe at `rate` a second, shared through `store`."""

    def __init__(
        self,
        rate: float,
        store: BudgetStore,
        *,
        max_wait: float = 30.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate < MIN_RATE:
            raise ValueError(f"a request budget needs a rate of at least {MIN_RATE:g} a second")
        self.rate = rate
        self.store = store
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep

    def acquire(self, priority: Priority | None = None) -> float:
        """Wait for a slot (at the caller's priority) and return it: the moment the request
        may leave, which is now or at most half a slot ago. A person's request that would
        wait longer than `max_wait` raises `BudgetExhausted` instead."""
        priority = current_priority() if priority is None else priority
        horizon = HORIZONS.get(priority, self.max_wait)
        started = self._clock()
        while True:
            now, booking = self._book(horizon)
            if booking.slot is None:
                self._wait_until(booking.retry_at, now, priority)
                continue
            if booking.slot > now:
                self._sleep(max(0.0, booking.slot - self._clock()))
            # A slot missed by much is booked again: this thread was descheduled while it
            # slept, or the store's commit (another process's turn, a busy database) took
            # longer than the slot's lateness allows.
            left = self._clock()
            if left - booking.slot > LATE_SHARE * slot_seconds(booking.rate):
                continue
            STRIPE_REQUESTS.labels(priority=priority.label).inc()
            STRIPE_BUDGET_WAIT_SECONDS.labels(priority=priority.label).observe(max(0.0, left - started))
            STRIPE_BUDGET_RATE.set(booking.rate)
            return booking.slot

    def rate_limited(self, *, retry_after: float | None = None, priority: Priority | None = None) -> None:
        """Stripe answered 429: everyone slows down (see the module docstring)."""
        priority = current_priority() if priority is None else priority
        STRIPE_RATE_LIMITED.labels(priority=priority.label).inc()
        now = self._clock()
        pause = retry_after if retry_after is not None else 0.0
        state = self.store.change(lambda s: shrink(s, now=now, configured=self.rate, pause=pause))
        STRIPE_BUDGET_RATE.set(rate_in_force(state, self.rate, now))

    def rate_now(self) -> float:
        """The rate in force (reads the shared state)."""
        now = self._clock()
        state = self.store.change(lambda s: s or BudgetState(next_slot=now))
        return rate_in_force(state, self.rate, now)

    def _book(self, horizon: float) -> tuple[float, Booking]:
        """Book at the time read while the store is held: not before, which waiting for the
        store (another process's turn, a slow database) would make stale, so a slot of "now"
        would leave late, next to the following caller's."""
        found: list[tuple[float, Booking]] = []

        def change(state: BudgetState | None) -> BudgetState:
            now = self._clock()
            new_state, booking = book(state, now=now, horizon=horizon, configured=self.rate)
            found.append((now, booking))
            return new_state

        self.store.change(change)
        return found[-1]

    def _wait_until(self, at: float, now: float, priority: Priority) -> None:
        if priority not in HORIZONS:  # a person's request: its horizon is all it may wait
            raise BudgetExhausted(
                f"Stripe's request budget is booked for the next {math.ceil(at - now + self.max_wait)} s; "
                "try again shortly"
            )
        # Others race for the same slot: look again a little after it frees, spread out.
        pause = min(MAX_POLL_SECONDS, max(MIN_POLL_SECONDS, at - now))
        self._sleep(pause * (1.0 + random.random() / 4))
