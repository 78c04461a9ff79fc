"""The worker's reactions, delivered beside its loop (`paywire.events.reactor`): a
reaction that takes long (a receipt's request waiting for its slot) does not hold back the
next events, and a line of facts (a sync's, a storm's receipts, another process's) is worked
off a claim after another, not one claim per idle interval. On a real database (SQLite, and
PostgreSQL when configured); no server."""

from __future__ import annotations

import json
import threading

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from paywire.catalog import Catalog
from paywire.config import Settings, load_settings
from paywire.events.store import new_event, store
from paywire.events.worker import Worker, WorkerOptions, WorkerThread
from paywire.outbox import ClaimedFact, Fact
from paywire.outbox import store as outbox
from paywire.reactions.registry import ReactionContext, Registry
from paywire.stripe import Priority, StripeGateway, current_priority
from tests.paywire.conftest import AUTH_SECRET
from tests.paywire.events.conftest import event_payload, wait_for
from tests.support.stripesim import TEST_KEY

BATCH = 20


def settings_for(database_url: str) -> Settings:
    return load_settings(
        _env_file=None, STRIPE_SECRET_KEY=TEST_KEY, DATABASE_URL=database_url, PAYWIRE_AUTH_SECRET=AUTH_SECRET
    )


def worker_with(
    registry: Registry,
    session_factory: sessionmaker[Session],
    catalog: Catalog,
    database_url: str,
    options: WorkerOptions | None = None,
) -> Worker:
    return Worker(
        sessions=session_factory,
        # Never called: the reactions and events here make no request.
        gateway=StripeGateway(TEST_KEY, api_base="http://127.0.0.1:9", max_network_retries=0),
        catalog=catalog,
        settings=settings_for(database_url),
        options=options or WorkerOptions(reaction_batch_size=BATCH, poll_interval=0.05),
        reactions=registry,
    )


# The state of one row (None: no such row): an inbox event's by its id, a fact's by its key.
EVENT_STATE = "SELECT state FROM webhook_events WHERE id = :key"
FACT_STATE = "SELECT state FROM outbox WHERE dedup_key = :key"


def state_of(session_factory: sessionmaker[Session], query: str, key: str) -> str | None:
    with session_factory() as session:
        row = session.execute(text(query), {"key": key}).first()
    return None if row is None else str(row[0])


def test_a_reaction_that_takes_long_does_not_hold_back_the_next_events(
    session_factory: sessionmaker[Session], catalog: Catalog, database_url: str
) -> None:
    started, release = threading.Event(), threading.Event()
    priorities: list[Priority] = []

    def slow(ctx: ReactionContext, fact: ClaimedFact) -> str:
        priorities.append(current_priority())
        started.set()
        assert release.wait(60), "the test never released the reaction"
        return "sent at last"

    registry = Registry()
    registry.register("receipt", "slow", slow)
    worker = worker_with(registry, session_factory, catalog, database_url)
    with session_factory() as session:
        outbox.record(session, [Fact("receipt", "receipt:in_slow", "user_1", "in_slow", {})])
        session.commit()
    thread = WorkerThread(worker).start()
    try:
        wait_for("the reaction under way", started.is_set)
        # An event arrives while the reaction still waits (as a receipt waits for its request slot).
        body = event_payload("evt_while_reacting", "paywire.test.unknown")
        with session_factory() as session:
            store(session, new_event(body.decode(), json.loads(body), expected_livemode=False))
            session.commit()
        worker.bell.ring()
        wait_for(
            "the event worked off while the reaction waits",
            lambda: state_of(session_factory, EVENT_STATE, "evt_while_reacting") == "ignored",
        )
        assert not release.is_set() and started.is_set()
        # A receipt's request to Stripe takes only a slot that a person or the mirror does not need.
        assert priorities == [Priority.BACKGROUND]
        release.set()
        wait_for("the fact done", lambda: state_of(session_factory, FACT_STATE, "receipt:in_slow") == "done")
    finally:
        release.set()
        thread.stop()


def test_a_line_of_facts_is_worked_off_claim_after_claim(
    session_factory: sessionmaker[Session], catalog: Catalog, database_url: str
) -> None:
    reacted: list[str] = []

    def note(ctx: ReactionContext, fact: ClaimedFact) -> str:
        reacted.append(fact.dedup_key)
        return "noted"

    registry = Registry()
    registry.register("noted", "note", note)
    worker = worker_with(registry, session_factory, catalog, database_url)
    # Recorded by another process (a sync): this worker was not told of them.
    with session_factory() as session:
        facts = [Fact("noted", f"noted:{n}", f"user_{n}", f"sub_{n}", {}) for n in range(5 * BATCH)]
        outbox.record(session, facts)
        session.commit()

    waits = [worker.reactor.step() for _ in range(6)]

    assert waits == [0.0] * 5 + [worker.reactor.idle_interval], "each full claim is followed at once by the next"
    assert sorted(reacted) == sorted(f.key for f in facts)


def test_facts_are_delivered_side_by_side_on_the_reactors_threads(
    session_factory: sessionmaker[Session], catalog: Catalog, database_url: str
) -> None:
    """Two receipts waiting for their requests at once, not one after the other: so the
    request budget stays busy when a storm's receipts each wait for a slot."""
    waiting: list[str] = []
    both, release = threading.Event(), threading.Event()
    lock = threading.Lock()

    def slow(ctx: ReactionContext, fact: ClaimedFact) -> str:
        with lock:
            waiting.append(fact.dedup_key)
            if len(waiting) == 2:
                both.set()
        assert release.wait(60), "the test never released the reactions"
        return "sent"

    registry = Registry()
    registry.register("receipt", "slow", slow)
    # One fact per claim: a thread holding one fact leaves the other to the second thread.
    options = WorkerOptions(reaction_batch_size=1, reaction_threads=2, poll_interval=0.05)
    worker = worker_with(registry, session_factory, catalog, database_url, options)
    with session_factory() as session:
        outbox.record(session, [Fact("receipt", f"receipt:in_{n}", "user_1", f"in_{n}", {}) for n in range(2)])
        session.commit()
    thread = WorkerThread(worker).start()
    try:
        wait_for("both reactions under way at once", both.is_set)
        release.set()
        for n in range(2):
            wait_for("the fact done", lambda n=n: state_of(session_factory, FACT_STATE, f"receipt:in_{n}") == "done")
    finally:
        release.set()
        thread.stop()
