"""The inbox's queries on a real database (SQLite, and PostgreSQL when configured):
claims are exclusive and serialized per Stripe object, failures back off, dead letters
stop, crashed workers' claims come back."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from paywire.db.leases import RetryPolicy
from paywire.db.models import WebhookEvent, utcnow
from paywire.events import inbox, store
from paywire.events.store import NewEvent

POLICY = RetryPolicy(base_seconds=10, cap_seconds=100, max_attempts=3)


def add(session: Session, event_id: str, object_id: str | None, state: str = "pending") -> None:
    stored = store.store(
        session,
        NewEvent(
            id=event_id,
            type="customer.subscription.updated",
            livemode=False,
            api_version="2026-10-28.endive",
            object_id=object_id,
            object_type="subscription",
            event_created=1_800_000_000,
            payload="{}",
            state=state,
        ),
    )
    assert stored
    session.commit()


def claim(session: Session, worker: str = "w1", limit: int = 10, lease: float = 60) -> list[str]:
    return [e.id for e in inbox.claim_batch(session, worker_id=worker, limit=limit, lease_seconds=lease)]


def state_of(session: Session, event_id: str) -> WebhookEvent:
    session.expire_all()
    row = session.get(WebhookEvent, event_id)
    assert row is not None
    return row


def test_storing_an_id_twice_keeps_the_first(session: Session) -> None:
    add(session, "evt_1", "sub_1")
    again = store.store(
        session,
        NewEvent("evt_1", "other.type", False, None, "sub_2", None, None, "{}"),
    )
    session.commit()
    assert again is False
    assert state_of(session, "evt_1").type == "customer.subscription.updated"


def test_a_claim_takes_every_due_event_of_the_objects_it_chooses_and_skips_objects_in_progress(
    session: Session,
) -> None:
    for n, obj in enumerate(["sub_a", "sub_a", "sub_b", "sub_a", "sub_c"]):
        add(session, f"evt_{n}", obj)

    first = claim(session, "w1", limit=2)
    second = claim(session, "w2")

    assert first == ["evt_0", "evt_1", "evt_2", "evt_3"], "sub_a and sub_b, oldest first, all their events"
    assert second == ["evt_4"], "sub_c: the only object not being processed"
    add(session, "evt_5", "sub_a")
    assert claim(session, "w3") == [], "a new event about sub_a waits while sub_a is processed"
    assert inbox.finish_group(session, [("evt_0", "processed"), ("evt_1", "ignored")], worker_id="w1")
    assert inbox.finish_group(session, [("evt_3", "processed")], worker_id="w1")
    session.commit()
    assert claim(session, "w3") == ["evt_5"], "sub_a is free again, sub_b and sub_c are not"
    assert [state_of(session, f"evt_{n}").state for n in range(4)] == [
        "processed",
        "ignored",
        "processing",
        "processed",
    ]


def test_a_group_is_marked_all_or_nothing(session: Session) -> None:
    add(session, "evt_1", "sub_1")
    add(session, "evt_2", "sub_1")
    claim(session, "w1")
    with session.begin_nested():
        # evt_2's claim was lost (the lease expired and another worker took it over).
        session.execute(update(WebhookEvent).where(WebhookEvent.id == "evt_2").values(claimed_by="w2"))
    assert inbox.finish_group(session, [("evt_1", "processed"), ("evt_2", "processed")], worker_id="w1") is False
    session.rollback()
    assert state_of(session, "evt_1").state == "processing"


def test_claimed_events_are_grouped_by_object_in_order_of_their_oldest() -> None:
    def event(event_id: str, object_id: str | None) -> inbox.ClaimedEvent:
        return inbox.ClaimedEvent(event_id, "t", object_id, "{}", 1)

    events = [event("e1", "a"), event("e2", "b"), event("e3", None), event("e4", "a"), event("e5", None)]
    groups = inbox.group_by_object(events)
    assert [[e.id for e in g] for g in groups] == [["e1", "e4"], ["e2"], ["e3"], ["e5"]]


def test_a_claim_takes_at_most_max_events(session: Session) -> None:
    for n in range(6):
        add(session, f"evt_{n}", "sub_storm")
    assert [e.id for e in inbox.claim_batch(session, worker_id="w", limit=5, lease_seconds=60, max_events=4)] == [
        "evt_0",
        "evt_1",
        "evt_2",
        "evt_3",
    ]
    assert claim(session, "w2") == [], "the rest waits for the object to be free"


@pytest.mark.parametrize("state", ["dead", "failed", "processed", "ignored"])
def test_a_replayed_event_is_due_again_with_a_fresh_attempt_budget(session: Session, state: str) -> None:
    add(session, "evt_1", "sub_1")
    session.execute(
        update(WebhookEvent).where(WebhookEvent.id == "evt_1").values(state=state, attempts=3, last_error="boom")
    )
    session.commit()
    assert inbox.requeue(session, "evt_1") is True
    session.commit()
    row = state_of(session, "evt_1")
    assert (row.state, row.attempts, row.last_error) == ("pending", 0, "boom")
    assert claim(session) == ["evt_1"]


@pytest.mark.parametrize("state", ["processing", "livemode_mismatch", "pending"])
def test_events_in_flight_or_never_to_be_applied_are_not_replayed(session: Session, state: str) -> None:
    add(session, "evt_1", "sub_1", state="livemode_mismatch" if state == "livemode_mismatch" else "pending")
    if state == "processing":
        claim(session)
    assert inbox.requeue(session, "evt_1") is False
    assert inbox.requeue(session, "evt_unknown") is False


def test_events_without_an_object_are_not_serialized(session: Session) -> None:
    add(session, "evt_x", None)
    add(session, "evt_y", None)
    assert sorted(claim(session)) == ["evt_x", "evt_y"]


def test_livemode_mismatches_are_never_claimed(session: Session) -> None:
    add(session, "evt_live", "sub_1", state="livemode_mismatch")
    assert claim(session) == []
    assert inbox.depth(session) == {"livemode_mismatch": 1}
    assert inbox.waiting(inbox.depth(session)) == 0


def test_only_the_claiming_worker_can_finish(session: Session) -> None:
    add(session, "evt_1", "sub_1")
    claim(session, "w1")
    assert inbox.finish_group(session, [("evt_1", "processed")], worker_id="w2") is False
    assert inbox.finish_group(session, [("evt_1", "processed")], worker_id="w1") is True
    session.commit()
    row = state_of(session, "evt_1")
    assert (row.state, row.claimed_by, row.attempts) == ("processed", None, 1)
    assert row.processed_at is not None


def test_a_failure_backs_off_then_dies_after_the_bound(session: Session) -> None:
    add(session, "evt_1", "sub_1")
    states = []
    for attempt in range(1, POLICY.max_attempts + 1):
        # Claim "later" than any backoff, to step through the attempts.
        now = utcnow() + timedelta(seconds=1000 * attempt)
        [event] = inbox.claim_batch(session, worker_id="w", limit=1, lease_seconds=60, now=now)
        assert event.attempts == attempt
        states.append(inbox.fail(session, event, worker_id="w", error=f"boom {attempt}", policy=POLICY, now=now))
        session.commit()
        row = state_of(session, "evt_1")
        if states[-1] == "failed":
            full = min(POLICY.cap_seconds, POLICY.base_seconds * 2 ** (attempt - 1))
            wait = (row.next_attempt_at - now).total_seconds()
            assert full / 2 <= wait <= full
            assert inbox.claim_batch(session, worker_id="w", limit=1, lease_seconds=60, now=now) == []
    assert states == ["failed", "failed", "dead"]
    row = state_of(session, "evt_1")
    assert (row.state, row.attempts, row.last_error) == ("dead", 3, "boom 3")
    assert claim(session) == []


def test_an_expired_claim_is_taken_back_and_the_late_worker_loses_it(session: Session) -> None:
    add(session, "evt_1", "sub_1")
    add(session, "evt_2", "sub_1")
    [event] = inbox.claim_batch(session, worker_id="crashed", limit=5, lease_seconds=30, max_events=1)
    assert event.id == "evt_1"
    later = utcnow() + timedelta(seconds=31)

    assert inbox.reclaim_expired(session, policy=POLICY, now=later) == 1
    row = state_of(session, "evt_1")
    assert row.state == "failed" and "lease expired" in (row.last_error or "")
    retaken = inbox.claim_batch(session, worker_id="w2", limit=5, lease_seconds=30, now=later)
    assert [e.id for e in retaken] == ["evt_1", "evt_2"] and [e.attempts for e in retaken] == [2, 1]
    late = inbox.finish_group(session, [("evt_1", "processed")], worker_id="crashed")
    assert late is False, "its result must not count"


def test_an_event_that_keeps_killing_workers_goes_dead(session: Session) -> None:
    add(session, "evt_poison", "sub_1")
    at = utcnow()
    for _ in range(POLICY.max_attempts):
        assert inbox.claim_batch(session, worker_id="w", limit=1, lease_seconds=60, now=at)
        at += timedelta(seconds=61)  # the worker died: its lease runs out
        assert inbox.reclaim_expired(session, policy=POLICY, now=at) == 1
    row = state_of(session, "evt_poison")
    assert (row.state, row.attempts) == ("dead", POLICY.max_attempts)
    assert inbox.claim_batch(session, worker_id="w", limit=1, lease_seconds=60, now=at) == []


def test_concurrent_workers_claim_each_event_once_and_one_per_object_at_a_time(
    session_factory: sessionmaker[Session],
) -> None:
    objects = [f"sub_{n}" for n in range(8)]
    rng = random.Random(7)
    with session_factory() as session:
        for n in range(80):
            add(session, f"evt_{n:03d}", rng.choice(objects))
    claimed: Counter[str] = Counter()
    in_progress: set[str] = set()
    overlaps: list[str] = []
    guard = threading.Lock()
    errors: list[BaseException] = []

    def work(worker: str) -> None:
        try:
            with session_factory() as session:
                idle = 0
                while idle < 20:
                    batch = inbox.claim_batch(session, worker_id=worker, limit=3, lease_seconds=60)
                    if not batch:
                        idle += 1
                        threading.Event().wait(0.01)
                        continue
                    idle = 0
                    for event in batch:
                        with guard:
                            claimed[event.id] += 1
                            if event.object_id in in_progress:
                                overlaps.append(event.object_id or "")
                            in_progress.add(event.object_id or "")
                        threading.Event().wait(0.002)
                        with guard:
                            in_progress.discard(event.object_id or "")
                        assert inbox.finish_group(session, [(event.id, "processed")], worker_id=worker)
                        session.commit()
        except BaseException as exc:  # surfaced below, with the thread's name
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert errors == []
    assert overlaps == [], "two events about one object were processed at once"
    assert sorted(claimed) == [f"evt_{n:03d}" for n in range(80)]
    assert set(claimed.values()) == {1}
    with session_factory() as session:
        assert inbox.depth(session) == {"processed": 80}


@given(attempts=st.integers(min_value=1, max_value=40), base=st.floats(0.01, 60), cap=st.floats(1, 7200))
def test_backoff_grows_exponentially_within_its_cap_with_jitter(attempts: int, base: float, cap: float) -> None:
    policy = RetryPolicy(base_seconds=base, cap_seconds=cap, max_attempts=50)
    full = min(cap, base * 2 ** (attempts - 1))
    delay = policy.delay(attempts, random.Random(attempts))
    assert full / 2 <= delay <= full
