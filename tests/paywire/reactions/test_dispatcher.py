"""The outbox and its dispatcher on a real database (SQLite, and PostgreSQL when configured):
one row per fact key whoever records it, reactions delivered at least once and recorded
once, a reaction's database effect exactly once even when the dispatcher dies between the
effect and its record, failures retried with backoff and dead-lettered after the bound."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from paywire import crashpoints
from paywire.db.leases import RetryPolicy
from paywire.db.models import OutboxFact, ReactionRecord, utcnow
from paywire.db.repositories import customers
from paywire.outbox import Fact
from paywire.outbox import store as outbox
from paywire.reactions.dispatcher import Dispatcher
from paywire.reactions.email import Mail, message_id
from paywire.reactions.registry import ReactionContext, Registry, default_registry
from tests.paywire.events.conftest import wait_for

POLICY = RetryPolicy(base_seconds=10, cap_seconds=100, max_attempts=3)


class Outbox:
    """Recorded mail, standing in for an SMTP server."""

    def __init__(self) -> None:
        self.sent: list[Mail] = []
        self.fail_next = 0

    def send(self, mail: Mail) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("the mail server is down")
        self.sent.append(mail)


def fact(key: str = "access_granted:sub_1", user_id: str | None = "user_1") -> Fact:
    payload = {"plan": "pro", "subscription_id": "sub_1", "attempt_count": 1, "next_payment_attempt": 1_800_000_000}
    return Fact(key.split(":")[0], key, user_id, key.split(":")[1], payload)


def record(sessions: sessionmaker[Session], *facts: Fact) -> list[str]:
    with sessions() as session:
        added = outbox.record(session, facts, source_event_id="evt_1")
        session.commit()
    return added


def rows(sessions: sessionmaker[Session]) -> list[OutboxFact]:
    with sessions() as session:
        return list(session.scalars(select(OutboxFact).order_by(OutboxFact.id)))


def with_customer(sessions: sessionmaker[Session], user_id: str = "user_1") -> None:
    with sessions() as session:
        customers.add_customer(session, user_id=user_id, stripe_customer_id=f"cus_{user_id}", email=f"{user_id}@x.io")
        session.commit()


def test_each_fact_is_mailed_once_and_marked_done(session_factory: sessionmaker[Session]) -> None:
    with_customer(session_factory)
    mail = Outbox()
    dispatcher = Dispatcher(
        sessions=session_factory, registry=default_registry(mail), worker_id="w1", retry=POLICY, lease_seconds=30
    )
    record(session_factory, fact(), fact("payment_failed:in_1:1"))

    assert dispatcher.dispatch_once() == 2
    assert dispatcher.dispatch_once() == 0

    assert sorted(m.subject for m in mail.sent) == ["Payment failed: please update your card", "Welcome to pro"]
    assert {m.to for m in mail.sent} == {"user_1@x.io"}
    assert {r.state for r in rows(session_factory)} == {"done"}
    keys = [r.dedup_key for r in rows(session_factory)]
    assert sorted(m.message_id for m in mail.sent) == sorted(message_id(k, "email") for k in keys)


def test_a_failing_reaction_backs_off_then_dies_after_the_bound(session_factory: sessionmaker[Session]) -> None:
    with_customer(session_factory)
    mail = Outbox()
    mail.fail_next = 10
    dispatcher = Dispatcher(sessions=session_factory, registry=default_registry(mail), worker_id="w1", retry=POLICY)
    record(session_factory, fact())

    states = []
    for attempt in range(1, POLICY.max_attempts + 1):
        later = utcnow() + timedelta(seconds=1000 * attempt)
        with session_factory() as session:
            [claimed] = outbox.claim(session, worker_id="w1", limit=5, lease_seconds=30, now=later)
        assert claimed.attempts == attempt
        states.append(dispatcher.deliver(claimed))
    assert states == ["failed", "failed", "dead"]
    [row] = rows(session_factory)
    assert (row.state, row.attempts) == ("dead", 3) and "mail server is down" in (row.last_error or "")
    assert mail.sent == []

    mail.fail_next = 0
    with session_factory() as session:
        assert outbox.requeue(session, row.id)
        session.commit()
    assert dispatcher.dispatch_once() == 1
    assert len(mail.sent) == 1 and rows(session_factory)[0].state == "done"


def test_a_retry_repeats_only_the_reactions_not_yet_recorded(session_factory: sessionmaker[Session]) -> None:
    calls: Counter[str] = Counter()
    registry = Registry(email=Outbox())
    registry.register("access_granted", "first", lambda ctx, f: calls.update(["first"]) or "ok")

    def second(ctx: ReactionContext, f: outbox.ClaimedFact) -> str:
        calls.update(["second"])
        if calls["second"] == 1:
            raise RuntimeError("transient")
        return "ok"

    registry.register("access_granted", "second", second)
    dispatcher = Dispatcher(
        sessions=session_factory, registry=registry, worker_id="w1", retry=RetryPolicy(0.001, 0.001, 5)
    )
    record(session_factory, fact())

    assert dispatcher.dispatch_once() == 1
    wait_for("the retry due after its backoff", lambda: dispatcher.dispatch_once() == 1)
    assert calls == {"first": 1, "second": 2}
    with session_factory() as session:
        assert sorted(session.scalars(select(ReactionRecord.reaction))) == ["first", "second"]


class Died(BaseException):
    """The process died here (a BaseException, like a kill: nothing catches it)."""


def test_a_dispatcher_dying_between_effect_and_record_repeats_the_mail_but_never_a_database_effect(
    session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    with_customer(session_factory)
    with session_factory() as session:
        session.execute(text("CREATE TABLE credits (fact_id INTEGER, amount INTEGER)"))
        session.commit()
    mail = Outbox()
    registry = default_registry(mail)

    def grant_credit(ctx: ReactionContext, f: outbox.ClaimedFact) -> str:
        # A database effect: made in the session that commits with the reaction's record.
        ctx.session.execute(text("INSERT INTO credits VALUES (:id, 100)"), {"id": f.id})
        return "credited"

    registry.register("access_granted", "credit", grant_credit)
    record(session_factory, fact())

    def die(point: str) -> None:
        if point == "reaction_done_before_record":
            raise Died(point)

    monkeypatch.setattr(crashpoints, "reached", die)
    # A lease long enough that a loaded machine cannot run it out before the next look.
    first = Dispatcher(sessions=session_factory, registry=registry, worker_id="w1", retry=POLICY, lease_seconds=5.0)
    with pytest.raises(Died):
        first.dispatch_once()
    monkeypatch.undo()

    assert len(mail.sent) == 1, "the mail left before the process died"
    second = Dispatcher(sessions=session_factory, registry=registry, worker_id="w2", retry=POLICY)
    assert second.dispatch_once() == 0, "the dead dispatcher's lease still holds the fact"
    wait_for("the dead dispatcher's lease run out", lambda: second.dispatch_once() == 1)

    with session_factory() as session:
        assert session.execute(text("SELECT count(*) FROM credits")).scalar() == 1, "the credit exactly once"
        assert sorted(session.scalars(select(ReactionRecord.reaction))) == ["credit", "email"]
    assert len(mail.sent) == 2, "an outside effect is at least once …"
    assert len({m.message_id for m in mail.sent}) == 1, "… with one Message-ID, so the receiver drops the repeat"
    assert rows(session_factory)[0].state == "done"


def test_concurrent_dispatchers_deliver_each_fact_once(session_factory: sessionmaker[Session]) -> None:
    with_customer(session_factory)
    mail = Outbox()
    record(session_factory, *[fact(f"access_granted:sub_{n}") for n in range(40)])
    errors: list[BaseException] = []

    def work(name: str) -> None:
        dispatcher = Dispatcher(
            sessions=session_factory, registry=default_registry(mail), worker_id=name, retry=POLICY, batch_size=3
        )
        try:
            idle = 0
            while idle < 5:
                idle = 0 if dispatcher.dispatch_once() else idle + 1
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert len(mail.sent) == 40 and len({m.message_id for m in mail.sent}) == 40
    assert {r.state for r in rows(session_factory)} == {"done"}


def test_a_fact_about_a_user_without_an_email_is_done_without_mail(session_factory: sessionmaker[Session]) -> None:
    mail = Outbox()
    dispatcher = Dispatcher(sessions=session_factory, registry=default_registry(mail), worker_id="w1", retry=POLICY)
    record(session_factory, fact(user_id=None))
    assert dispatcher.dispatch_once() == 1
    assert mail.sent == []
    with session_factory() as session:
        [detail] = session.scalars(select(ReactionRecord.detail))
    assert detail == "no email address known"
