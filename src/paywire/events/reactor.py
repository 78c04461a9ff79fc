"""Reactions beside the events: threads of the worker's process deliver the outbox's facts.

The worker's loop applies events to the mirror; what follows from them (mails, and the
requests to Stripe some make: a receipt's link) must not stand between the next events and
the mirror. At a renewal storm each receipt waits ~50 ms for its request slot; in the loop,
10,000 of them held the mirror back by minutes. So facts are delivered here, on threads of
their own (PAYWIRE_WORKER_REACTION_THREADS, 4: a receipt waits for its request, and several
keep the request budget busy) with their own database sessions, while the loop goes on
claiming events. Each thread claims its own facts (claims are exclusive).

The loop nudges the reactor when a commit recorded facts (they go at once); a full claim of
facts (a sync's, a storm's receipts, another process's) is followed at once by the next;
otherwise a thread looks every `idle_interval` seconds (a claim is a write) for retries now
due and facts other processes recorded. While the receiver holds the workers (a burst of
webhooks being acknowledged), the threads pause between claims as the loop does
(`paywire.events.hold`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from paywire.events.hold import HoldPolicy
from paywire.reactions.dispatcher import Dispatcher
from paywire.stripe import Priority, at_priority

log = logging.getLogger("paywire.reactions")

# An idle reactor looks for due facts (retries, facts other processes recorded) this often.
IDLE_INTERVAL_SECONDS = 0.5
# After an unexpected error (the database is down), wait this long.
ERROR_PAUSE_SECONDS = 2.0


class Reactor:
    """Runs `dispatcher` until stopped: `start(stop_event)` on `threads` daemon threads, or
    `step()` one claim at a time (tests)."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        held_for: Callable[[], float] = lambda: 0.0,
        idle_interval: float = IDLE_INTERVAL_SECONDS,
        threads: int = 1,
    ) -> None:
        self.dispatcher = dispatcher
        self.held_for = held_for
        self.idle_interval = idle_interval
        self.threads = threads
        self._nudged = threading.Event()
        self._threads: list[threading.Thread] = []

    def nudge(self) -> None:
        """Facts were recorded: deliver them now, not at the next look."""
        self._nudged.set()

    def step(self) -> float:
        """One claim of due facts, delivered; how long to wait before the next (0: a line of
        facts waits)."""
        self._nudged.clear()  # a nudge from here on is for facts this claim may not see
        claimed = self.dispatcher.dispatch_once()
        return 0.0 if claimed >= self.dispatcher.batch_size else self.idle_interval

    def start(self, stop_event: threading.Event) -> Reactor:
        for n in range(self.threads):
            thread = threading.Thread(target=self.run, args=(stop_event,), name=f"paywire-reactions-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def join(self, timeout: float | None = None) -> None:
        self._nudged.set()
        for thread in self._threads:
            thread.join(timeout)

    def run(self, stop_event: threading.Event) -> None:
        hold_policy = HoldPolicy()
        # A receipt's request takes only a slot nobody needs now: a person's requests and the
        # mirror's reads book ahead of it (at a storm, ten thousand receipts must not make an
        # upgrade wait behind them).
        with at_priority(Priority.BACKGROUND):
            while not stop_event.is_set():
                pause = hold_policy.pause(self.held_for(), time.monotonic())
                if pause:
                    stop_event.wait(pause)
                    continue
                try:
                    wait = self.step()
                except Exception:
                    log.exception("reactions: delivering facts failed; pausing")
                    wait = ERROR_PAUSE_SECONDS
                if wait and not stop_event.is_set():
                    self._nudged.wait(wait)
