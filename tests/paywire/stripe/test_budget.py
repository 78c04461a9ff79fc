"""The request budget (`paywire.stripe.budget`): slots spaced at the rate, priorities that
let a person go first, the 429 back-off, and the state shared through a SQLite file or a
PostgreSQL row by everyone who draws on it."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from paywire.config import ConfigError, load_settings
from paywire.stripe import Priority, at_priority, current_priority
from paywire.stripe.budget import (
    HOLD_SECONDS,
    RECOVERY_SECONDS,
    BudgetExhausted,
    BudgetState,
    MemoryStore,
    RequestBudget,
    book,
    rate_in_force,
    shrink,
    slot_seconds,
)
from paywire.stripe.budget_store import PostgresStore, SqliteFileStore, budget_for

# --- the pure rules ------------------------------------------------------------------------


def test_slots_are_spaced_so_no_second_holds_more_than_the_rate() -> None:
    state, first = book(None, now=100.0, horizon=0.0, configured=4)
    state, second = book(state, now=100.0, horizon=1.0, configured=4)
    state, third = book(state, now=103.0, horizon=0.0, configured=4)
    assert slot_seconds(4) == pytest.approx(1.04 / 3.5)
    assert (first.slot, second.slot, third.slot) == (100.0, 100.0 + slot_seconds(4), 103.0)
    assert state.next_slot == 103.0 + slot_seconds(4)
    # Five slots in a row span more than a second, even if the first leaves half a slot late
    # and the last reaches Stripe 40 ms sooner after leaving than the first did.
    for rate in (1, 4, 20, 80):
        assert rate * slot_seconds(rate) - slot_seconds(rate) / 2 - 0.04 >= 1.0 - 1e-9


def test_a_slot_that_passed_less_than_half_a_slot_ago_is_still_free() -> None:
    slot = slot_seconds(4)
    state, late = book(BudgetState(next_slot=100.0), now=100.0 + 0.4 * slot, horizon=0.0, configured=4)
    assert late.slot == 100.0 and state.next_slot == 100.0 + slot, "taken as if woken on time"
    _, too_late = book(BudgetState(next_slot=100.0), now=100.0 + 0.6 * slot, horizon=0.0, configured=4)
    assert too_late.slot == 100.0 + 0.6 * slot, "gone: booked now"


def test_a_caller_that_only_takes_free_slots_keeps_the_rate_when_it_wakes_late() -> None:
    """`paywire sync` draws at BACKGROUND (free slots only) and, on a busy machine, wakes up
    after the slot it waited for: it still sends at the rate, never closer than the rule allows."""
    now = [1000.0]
    slot = slot_seconds(20)

    def oversleep(seconds: float) -> None:
        now[0] += seconds + 0.3 * slot

    budget = RequestBudget(20, MemoryStore(), clock=lambda: now[0], sleep=oversleep)
    grants = []
    for _ in range(200):
        budget.acquire(Priority.BACKGROUND)
        grants.append(now[0])

    assert spaced(grants, 20)
    assert grants[-1] - grants[0] < 199 * slot * 1.05, "the lateness is not added to every request"


def test_a_slot_the_store_granted_too_late_is_booked_again() -> None:
    """The slot is chosen inside the store's transaction and the request leaves after it
    commits: a commit slower than a slot's lateness allows (another process's turn, a busy
    database) would send the request next to the following slot's; it books again."""
    now = [1000.0]
    slot = slot_seconds(20)

    class SlowFirstCommit(MemoryStore):
        commits = 0

        def change(self, change: Callable[[BudgetState | None], BudgetState]) -> BudgetState:
            state = super().change(change)
            self.commits += 1
            if self.commits == 1:
                now[0] += 0.8 * slot
            return state

    def sleep(seconds: float) -> None:
        now[0] += seconds

    store = SlowFirstCommit()
    granted = RequestBudget(20, store, clock=lambda: now[0], sleep=sleep).acquire(Priority.BACKGROUND)

    assert store.commits >= 2, "booked again"
    assert granted == 1000.0 + slot, "the next slot, not the one that passed while the store committed"
    assert 0.0 <= now[0] - granted <= slot / 2


def test_a_caller_books_only_within_its_horizon() -> None:
    state = BudgetState(next_slot=101.0)
    _, background = book(state, now=100.0, horizon=0.0, configured=4)
    _, mirror = book(state, now=100.0, horizon=0.25, configured=4)
    _, person = book(state, now=100.0, horizon=30.0, configured=4)
    assert (background.slot, background.retry_at) == (None, 101.0)
    assert (mirror.slot, mirror.retry_at) == (None, 100.75)
    assert person.slot == 101.0


def test_a_429_halves_the_rate_holds_it_then_lets_it_grow_back() -> None:
    state = shrink(None, now=100.0, configured=20, pause=1.0)
    assert state.next_slot == 101.0, "nobody sends before Stripe's Retry-After"
    assert rate_in_force(state, 20, 100.0 + HOLD_SECONDS) == 10
    assert rate_in_force(state, 20, 100.0 + HOLD_SECONDS + RECOVERY_SECONDS / 2) == 15
    assert rate_in_force(state, 20, 100.0 + HOLD_SECONDS + RECOVERY_SECONDS) == 20
    again = shrink(state, now=101.0, configured=20, pause=0.0)
    assert rate_in_force(again, 20, 101.0) == 5
    for _ in range(3):
        again = shrink(again, now=102.0, configured=20, pause=0.0)
    assert rate_in_force(again, 20, 102.0) == 1.0, "never below one a second"


# --- priorities, with real threads ----------------------------------------------------------


class BookingLog(MemoryStore):
    """A process's store that notes each slot booked: (thread, when it booked, the slot). The
    slots, not when the threads woke up, are what the budget decides (a loaded machine only
    delays the waking)."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate
        self.booked: list[tuple[str, float, float]] = []

    def change(self, change: Callable[[BudgetState | None], BudgetState]) -> BudgetState:
        def noted(before: BudgetState | None) -> BudgetState:
            after = change(before)
            if before is None or after.next_slot != before.next_slot:
                slot = after.next_slot - slot_seconds(self.rate)
                self.booked.append((threading.current_thread().name, time.time(), slot))
            return after

        return super().change(noted)

    def of(self, thread: str) -> list[tuple[float, float]]:
        return [(at, slot) for name, at, slot in self.booked if name == thread]


def test_a_checkout_goes_first_while_a_sync_is_waiting() -> None:
    log = BookingLog(4)
    budget = RequestBudget(4, log)
    stop = threading.Event()

    def sync() -> None:
        while not stop.is_set():
            budget.acquire(Priority.BACKGROUND)

    thread = threading.Thread(target=sync, name="sync")
    thread.start()
    try:
        while len(log.of("sync")) < 3:
            time.sleep(0.01)
        asked = time.time()
        budget.acquire(Priority.INTERACTIVE)
        while len([b for b in log.of("sync") if b[0] > asked]) < 2:
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join()

    [(_, checkout_slot), *_] = log.of(threading.current_thread().name)
    sync_before = [slot for at, slot in log.of("sync") if at <= asked]
    sync_after = [slot for at, slot in log.of("sync") if at > asked]
    # The sync was waiting for a free slot when the checkout asked; the checkout took the next one.
    assert checkout_slot <= max(max(sync_before) + slot_seconds(4), asked)
    assert min(sync_after) > checkout_slot


def test_the_mirrors_reads_never_keep_a_person_waiting_more_than_a_quarter_of_a_second() -> None:
    log = BookingLog(10)
    budget = RequestBudget(10, log)
    stop = threading.Event()

    def reads() -> None:
        with at_priority(Priority.MIRROR):
            assert current_priority() is Priority.MIRROR
            while not stop.is_set():
                budget.acquire()

    threads = [threading.Thread(target=reads, name=f"mirror-{n}") for n in range(6)]
    for thread in threads:
        thread.start()
    try:
        while len(log.booked) < 10:
            time.sleep(0.01)
        for _ in range(3):
            budget.acquire(Priority.INTERACTIVE)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    person = log.of(threading.current_thread().name)
    assert person, "the person's requests were booked"
    # However many reads wait, a person's slot is at most the mirror's horizon (and a slot) away.
    assert max(slot - at for at, slot in person) <= 0.25 + slot_seconds(10) + 0.01
    assert len(log.booked) - len(person) >= 10, "the mirror kept reading at the rate meanwhile"


def test_a_person_is_told_stripe_is_busy_rather_than_kept_waiting_past_the_bound() -> None:
    budget = RequestBudget(1, MemoryStore(), max_wait=0.5)
    budget.acquire(Priority.INTERACTIVE)
    with pytest.raises(BudgetExhausted):
        budget.acquire(Priority.INTERACTIVE)


def test_requests_draw_at_the_priority_of_the_code_that_runs() -> None:
    assert current_priority() is Priority.INTERACTIVE
    with at_priority(Priority.BACKGROUND):
        assert current_priority() is Priority.BACKGROUND
        seen: list[Priority] = []
        thread = threading.Thread(target=lambda: seen.append(current_priority()))
        thread.start()
        thread.join()
        assert seen == [Priority.INTERACTIVE], "a new thread starts at a person's priority"
    assert current_priority() is Priority.INTERACTIVE


# --- one state for everyone ------------------------------------------------------------------


def spaced(grants: list[float], rate: float) -> bool:
    """At most the rate in any second, wherever it starts, and no two at once (a caller woken
    late by a busy machine may leave up to half a slot after its slot)."""
    ordered = sorted(grants)
    most = max(sum(1 for t in ordered if start <= t < start + 1) for start in ordered)
    return most <= rate and all(b - a >= slot_seconds(rate) / 2 - 0.01 for a, b in itertools.pairwise(ordered))


def share(make_budget: Callable[[Callable[[], float]], RequestBudget], callers: int, each: int) -> list[float]:
    """The moments `callers` threads were granted `each` requests. A grant's moment is the
    last time its budget read the clock (when it let the request go), not when the thread
    next ran: on a busy machine that comes later, and would make two grants look closer."""
    grants: list[float] = []
    lock = threading.Lock()
    last_read = threading.local()

    def clock() -> float:
        last_read.at = time.time()
        return float(last_read.at)

    def draw() -> None:
        budget = make_budget(clock)  # each caller its own budget object, as each process has
        for _ in range(each):
            budget.acquire(Priority.MIRROR)
            with lock:
                grants.append(last_read.at)

    threads = [threading.Thread(target=draw) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return grants


def test_budgets_of_different_processes_share_one_set_of_slots(database_url: str, tmp_path: Path) -> None:
    """Each caller with its own store object and connection, as each process has: on SQLite a
    file beside the database, on PostgreSQL its row."""
    engine = create_engine(database_url) if database_url.startswith("postgresql") else None

    def own_budget(clock: Callable[[], float]) -> RequestBudget:
        if engine is not None:
            return RequestBudget(20, PostgresStore(engine, "test"), clock=clock)
        return RequestBudget(20, SqliteFileStore(tmp_path / "paywire.sqlite3-stripe-budget", "test"), clock=clock)

    try:
        grants = share(own_budget, callers=3, each=8)
    finally:
        if engine is not None:
            engine.dispose()
    assert len(grants) == 24
    assert spaced(grants, 20)
    assert max(grants) - min(grants) >= 23 * slot_seconds(20) - 0.05, "24 requests at 20/s take more than a second"


def test_the_deployments_budget_follows_the_key_and_the_setting(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/paywire.sqlite3"

    def budget(**settings: object) -> RequestBudget | None:
        return budget_for(load_settings(STRIPE_SECRET_KEY="sk_test_" + "x" * 24, DATABASE_URL=url, **settings))

    default = budget(PAYWIRE_STRIPE_RATE_LIMIT=None)
    assert default is not None and default.rate == 20
    assert isinstance(default.store, SqliteFileStore)
    assert default.store.path == tmp_path / "paywire.sqlite3-stripe-budget"
    seven = budget(PAYWIRE_STRIPE_RATE_LIMIT="7/s")
    assert seven is not None and seven.rate == 7
    assert budget(PAYWIRE_STRIPE_RATE_LIMIT="off") is None
    live = load_settings(STRIPE_SECRET_KEY="sk_live_" + "x" * 24, DATABASE_URL=url, PAYWIRE_STRIPE_RATE_LIMIT=None)
    assert live.stripe_requests_per_second == 80
    with pytest.raises(ConfigError, match="PAYWIRE_STRIPE_RATE_LIMIT: must be at least 1 request a second"):
        budget(PAYWIRE_STRIPE_RATE_LIMIT="0.5/s")
    with pytest.raises(ValueError, match="at least 1"):
        RequestBudget(0.5, MemoryStore())
