"""Crash safety with real processes: `paywire worker` processes die as `kill -9` would at
random named points (between the mirror's writes and their commit, right after the
commit before any reaction, after an email is sent and before it is recorded), plus
SIGKILLs from outside at random moments, and are restarted, until the queue drains.

Then: nothing lost (every stored event processed), nothing done twice (one outbox row per
fact, one reaction record per fact, one pass fulfilment, every email's Message-ID once per
fact and repeated only by a death between sending and recording), and the mirror equals
Stripe's state read fresh."""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from collections.abc import Callable

from sqlalchemy import func, select

from paywire.catalog import Catalog
from paywire.db.models import OutboxFact, ReactionRecord, WebhookEvent
from paywire.db.repositories import orders
from paywire.outbox import store as outbox
from paywire.reactions.email import message_id
from tests.paywire.conftest import Service
from tests.paywire.events.conftest import WorkerSpawner, inbox_rows
from tests.paywire.events.scenario import (
    Activity,
    buy_pass,
    cancel_now,
    change_seats,
    mirror_differences,
    retry_failed_deliveries_now,
    sim_is_quiet,
    subscribe,
)
from tests.paywire.mailbox import Mailbox, mailbox  # noqa: F401 - the fixture
from tests.support.processes import Process
from tests.support.stripesim import Sim

FIRST_DEATHS = ("mirror_written_before_commit", "events_committed", "reaction_done_before_record")
DEADLINE_SECONDS = 150.0


def work_everything_off(
    service: Service, sim: Sim, spawn: Callable[[], Process], rng: random.Random
) -> tuple[int, list[Process]]:
    """Keep one worker alive (restarting it whenever it dies), killing it from outside at a
    random moment of its work, until every event and fact is worked off; returns (deaths,
    processes). A worker is killed from outside only once it has worked something off: on a
    loaded machine starting one can take longer than a kill interval, and killing workers
    that never got to work would stop the queue, not test it."""
    processes = [spawn()]
    deaths = 0
    deadline = time.monotonic() + DEADLINE_SECONDS
    born_at = worked_off(service)
    next_kill: float | None = None
    while time.monotonic() < deadline:
        current = processes[-1]
        if current.proc.poll() is not None:
            assert current.proc.returncode == -signal.SIGKILL, current.output()[-3000:]
            deaths += 1
            processes.append(spawn())
            born_at, next_kill = worked_off(service), None
            continue
        if next_kill is None and worked_off(service) > born_at:
            next_kill = time.monotonic() + rng.uniform(0.2, 3.0)
        if next_kill is not None and time.monotonic() > next_kill:
            current.proc.send_signal(signal.SIGKILL)
            current.proc.wait(10)
            continue
        if all_worked_off(service, sim):
            return deaths, processes
        time.sleep(0.1)
    raise AssertionError(f"not worked off in {DEADLINE_SECONDS}s after {deaths} deaths: {pending_summary(service)}")


def worked_off(service: Service) -> int:
    """How much the workers have done so far: events worked off, facts recorded and delivered."""
    with service.sessions() as session:
        events = session.scalar(
            select(func.count()).select_from(WebhookEvent).where(WebhookEvent.state.in_(("processed", "ignored")))
        )
        facts = outbox.depth(session)
    return int(events or 0) + sum(facts.values()) + facts.get("done", 0)


def all_worked_off(service: Service, sim: Sim) -> bool:
    if not sim_is_quiet(sim):
        retry_failed_deliveries_now(sim)
        return False
    rows = inbox_rows(service)
    if any(r.state not in ("processed", "ignored") for r in rows):
        return False
    with service.sessions() as session:
        return outbox.depth(session).get("pending", 0) == 0


def pending_summary(service: Service) -> dict[str, object]:
    with service.sessions() as session:
        return {
            "inbox": Counter(r.state for r in inbox_rows(service)),
            "outbox": outbox.depth(session),
        }


def test_workers_killed_at_random_points_lose_nothing_and_do_nothing_twice(
    make_paywire_service: Callable[..., Service],
    sim: Sim,
    catalog: Catalog,
    spawn_worker: WorkerSpawner,
    mailbox: Mailbox,  # noqa: F811 - the fixture
) -> None:
    rng = random.Random(20261125)
    service = make_paywire_service(with_worker=False)  # the receiver only: workers are processes
    activity = Activity()
    client = sim.client()
    sim.control("faults", {"webhooks": {"duplicate_rate": 0.3, "reorder_window_ms": 200}})
    users = [f"user_crash_{n}" for n in range(6)]
    for n, user in enumerate(users):
        subscription_id = subscribe(service, sim, activity, user, "pro" if n % 2 else "basic", "month", quantity=1)
        assert subscription_id is not None
        if n % 3 == 1:
            change_seats(client, subscription_id, 3)
        if n % 3 == 2:
            cancel_now(client, subscription_id)
    buy_pass(service, sim, activity, "user_crash_pass")

    env = {
        "PAYWIRE_TEST_CRASH_AT": ",".join(FIRST_DEATHS),
        "PAYWIRE_WORKER_LEASE_SECONDS": "1.5",
        "PAYWIRE_WORKER_RETRY_BASE": "0.1",
        "PAYWIRE_WORKER_RETRY_CAP": "0.5",
        "PAYWIRE_EMAIL_BACKEND": "smtp",
        "PAYWIRE_SMTP_HOST": "127.0.0.1",
        "PAYWIRE_SMTP_PORT": str(mailbox.port),
    }
    count = iter(range(1000))

    def spawn() -> Process:
        # The first workers die for certain, one at each named point in turn, so the test kills
        # workers however fast the rest would work everything off; then random deaths.
        n = next(count)
        if n < len(FIRST_DEATHS):
            return spawn_worker(service, f"w{n}", **{**env, "PAYWIRE_TEST_CRASH_AT": FIRST_DEATHS[n]})
        return spawn_worker(service, f"w{n}", **env, PAYWIRE_TEST_CRASH_PROBABILITY="0.06")

    deaths, processes = work_everything_off(service, sim, spawn, rng)

    assert deaths >= 3, "the test must actually kill workers"
    # Nothing lost: every stored event was worked off, none given up on.
    states = Counter(r.state for r in inbox_rows(service))
    assert set(states) <= {"processed", "ignored"} and states["processed"] > 0, states
    # Nothing twice.
    with service.sessions() as session:
        facts = list(session.scalars(select(OutboxFact)))
        records = Counter(session.scalars(select(ReactionRecord.outbox_id)))
        assert session.scalar(select(func.count()).select_from(ReactionRecord)) == len(facts)
        [order] = orders.for_user(session, "user_crash_pass")
    assert {f.state for f in facts} == {"done"}
    assert set(records.values()) == {1} and set(records) == {f.id for f in facts}
    kinds = Counter(f.kind for f in facts)
    # The two subscriptions canceled before any worker ran were never seen granting access; every
    # paid invoice (six subscriptions' first ones, the pass's) has its receipt.
    assert kinds == {"access_granted": 4, "subscription_canceled": 2, "pass_fulfilled": 1, "receipt": 7}, kinds
    assert order.status == "fulfilled"
    ids = Counter(m["id"] for m in mailbox.messages)
    assert set(ids) == {message_id(f.dedup_key, "email") for f in facts}, "every fact mailed"
    repeats = sum(n - 1 for n in ids.values())
    assert repeats <= deaths, "a mail is repeated only by a death between sending and recording it"
    # Converged.
    assert mirror_differences(service, sim, catalog, activity) == {}
    for process in processes[:-1]:
        assert "Traceback" not in process.output(), process.output()[-3000:]
