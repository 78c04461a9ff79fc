"""The entitlement cache (paywire.billing.entitlement_cache), on SQLite and PostgreSQL: what moves
a user's version, what a check costs, what makes an entry go, and what happens when the
invalidation channel does."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from paywire.billing import entitlement_cache
from paywire.billing.entitlement_snapshots import read_snapshot
from paywire.billing.entitlements import entitlement_at, entitlement_for
from paywire.billing.pending_changes import pending_change_of, pending_payment_of
from paywire.catalog import load_catalog
from paywire.config import ConfigError, load_settings
from paywire.db.engine import make_engine
from paywire.db.models import Subscription
from paywire.db.repositories import customers, entitlement_versions, invoices, schedules
from paywire.mirror import invoices as mirrored_invoices
from paywire.mirror import read_version
from paywire.mirror import schedules as mirrored_schedules
from paywire.mirror import subscriptions as mirrored_subscriptions
from paywire.mirror import test_clocks as mirrored_clocks
from tests.paywire.billing.entitlement_peer import Peer, counter, wait_until
from tests.paywire.factories import mirror_subscription, paid_pass

DAY = 86_400
CATALOG = load_catalog()
SETTINGS = load_settings(_env_file=None)
BOUND = SETTINGS.entitlement_max_staleness


def check(session: Session, user_id: str, **kwargs: Any) -> Any:
    return entitlement_for(session, user_id, catalog=CATALOG, grace_seconds=0, settings=SETTINGS, **kwargs)


def with_status(session: Session, row: Subscription, status: str, **changes: Any) -> None:
    """The subscription as Stripe would now send it, written through the mirror (uncommitted)."""
    fresh = {**row.stripe_object, "status": status, **changes}
    mirrored_subscriptions.write(
        session, fresh, user_id=row.user_id, plan=row.plan, interval=row.interval, version=read_version()
    )


def fallbacks(reason: str) -> float:
    return counter("paywire_entitlement_cache_fallbacks_total", reason=reason)


@pytest.fixture
def cache(db_engine: Engine) -> entitlement_cache.EntitlementCache:
    """The process's cache of the test database, synced with its channel."""
    found = entitlement_cache.cache_for(db_engine, SETTINGS)
    assert found is not None
    wait_until("the cache's channel synced", found.healthy)
    return found


@pytest.fixture
def statements(db_engine: Engine) -> Iterator[list[str]]:
    """SQL this thread sends through the engine (the channel's own reads are another thread's)."""
    mine = threading.get_ident()
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if threading.get_ident() == mine:
            sent.append(statement)

    event.listen(db_engine, "before_cursor_execute", record)
    yield sent
    event.remove(db_engine, "before_cursor_execute", record)


def test_every_write_moves_its_users_versions_when_it_commits(session: Session) -> None:
    customers.add_customer(session, user_id="ann", stripe_customer_id="cus_ann", email=None, test_clock_id="clk")
    customers.add_customer(session, user_id="bob", stripe_customer_id="cus_bob", email=None, test_clock_id="clk")
    session.commit()
    ann, bob = entitlement_versions.version_of(session, "ann"), entitlement_versions.version_of(session, "bob")
    assert ann > 0 and bob > 0
    sub = mirror_subscription(session, "ann", customer="cus_ann")
    assert entitlement_versions.version_of(session, "ann") > ann

    # Names resolve at commit: a clock's users, a customer's, a subscription's.
    before = {u: entitlement_versions.version_of(session, u) for u in ("ann", "bob")}
    mirrored_clocks.save(session, {"id": "clk", "frozen_time": 1_900_000_000, "status": "ready"})
    session.commit()
    assert all(entitlement_versions.version_of(session, u) > v for u, v in before.items())
    before_ann = entitlement_versions.version_of(session, "ann")
    mirrored_schedules.write(session, schedule_for(sub, []), version=read_version())
    session.commit()
    assert entitlement_versions.version_of(session, "ann") > before_ann

    # A rolled-back write moves nothing.
    before_bob = entitlement_versions.version_of(session, "bob")
    customers.update_details(session, "cus_bob", email="b@example.com", test_clock_id=None)
    assert entitlement_versions.has_pending(session)
    session.rollback()
    assert not entitlement_versions.has_pending(session)
    assert entitlement_versions.version_of(session, "bob") == before_bob


def schedule_for(sub: Subscription, phases: list[dict[str, Any]], status: str = "active") -> dict[str, Any]:
    return {
        "id": sub.schedule_id or f"sub_sched_{sub.id}",
        "object": "subscription_schedule",
        "subscription": sub.id,
        "customer": sub.stripe_customer_id,
        "status": status,
        "end_behavior": "release",
        "current_phase": None,
        "phases": phases,
    }


def test_a_second_check_is_answered_without_a_query(
    session: Session, cache: entitlement_cache.EntitlementCache, statements: list[str]
) -> None:
    mirror_subscription(session, "ann", plan="pro")
    first = check(session, "ann")
    assert statements, "the first check reads the mirror"
    statements.clear()
    hits = counter("paywire_entitlement_cache_hits_total")
    again = check(session, "ann")
    assert again == first and again.plan == "pro" and again.access
    assert statements == []
    assert counter("paywire_entitlement_cache_hits_total") == hits + 1


def test_this_process_s_commits_drop_the_entry_at_once_whatever_its_engine(
    session: Session, database_url: str, cache: entitlement_cache.EntitlementCache
) -> None:
    row = mirror_subscription(session, "ann", plan="pro")
    assert check(session, "ann").access
    # The worker beside the app has an engine of its own.
    worker_engine = make_engine(database_url)
    try:
        with Session(worker_engine) as worker:
            with_status(worker, row, "canceled")
            worker.commit()
        assert not check(session, "ann").access  # no wait: the commit dropped it
    finally:
        worker_engine.dispose()


def test_no_check_answers_older_than_a_commit_it_can_see(
    session_factory: sessionmaker[Session], database_url: str, cache: entitlement_cache.EntitlementCache
) -> None:
    """Between a commit reaching the database and its session finishing, another thread of the
    process can already read the new rows: the cache must not answer older than them."""
    with session_factory() as setup:
        row = mirror_subscription(setup, "ann", plan="pro")

    def access(**kwargs: Any) -> bool:
        with session_factory() as session:
            return bool(check(session, "ann", **kwargs).access)

    assert access()
    committed, go_on = threading.Event(), threading.Event()
    worker_engine = make_engine(database_url)

    def write() -> None:
        with Session(worker_engine) as worker:
            event.listen(worker, "after_commit", lambda _: (committed.set(), go_on.wait(30)))
            with_status(worker, row, "canceled")
            worker.commit()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert committed.wait(30)
        assert not access(fresh=True)  # the database has it
        assert not access()
        assert not access()
    finally:
        go_on.set()
        writer.join(30)
        worker_engine.dispose()
    assert not access()


def test_a_session_sees_its_own_uncommitted_change(
    session_factory: sessionmaker[Session], cache: entitlement_cache.EntitlementCache
) -> None:
    with session_factory() as setup:
        row = mirror_subscription(setup, "ann", plan="pro")
    with session_factory() as writer, session_factory() as reader:
        assert check(reader, "ann").access
        with_status(writer, row, "canceled")
        own = fallbacks("own_write")
        assert not check(writer, "ann").access  # read through its own transaction
        assert fallbacks("own_write") == own + 1
        assert check(reader, "ann").access  # not committed: nobody else sees it
        writer.rollback()
        assert check(writer, "ann").access


def test_fresh_reads_the_mirror(session: Session, cache: entitlement_cache.EntitlementCache) -> None:
    mirror_subscription(session, "ann", plan="pro")
    assert check(session, "ann").access
    # A write paywire never makes: straight to the table, no version moved.
    session.execute(text("UPDATE subscriptions SET status = 'canceled'"))
    session.commit()
    assert check(session, "ann").access  # the cache cannot know
    assert not check(session, "ann", fresh=True).access


def test_time_passing_is_decided_at_each_check(
    session: Session, cache: entitlement_cache.EntitlementCache, statements: list[str]
) -> None:
    now = 1_900_000_000
    customers.add_customer(session, user_id="ann", stripe_customer_id="cus_ann", email=None, test_clock_id="clk")
    mirrored_clocks.save(session, {"id": "clk", "frozen_time": now, "status": "ready"})
    paid_pass(session, "ann", starts=now - DAY, ends=now + DAY)
    assert check(session, "ann").plan == "basic"  # the clock's time, from the snapshot
    statements.clear()
    assert not check(session, "ann", now=now + DAY).access  # any time, no query
    assert check(session, "ann", now=now).access
    assert statements == []
    mirrored_clocks.save(session, {"id": "clk", "frozen_time": now + 2 * DAY, "status": "ready"})
    session.commit()
    later = check(session, "ann")
    assert (later.access, later.reason) == (False, "pass_expired")


def test_a_read_overtaken_by_a_newer_version_is_not_kept(
    session_factory: sessionmaker[Session], cache: entitlement_cache.EntitlementCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_factory() as setup:
        row = mirror_subscription(setup, "ann", plan="pro")

    def read_then_cancel(read_session: Session, user_id: str) -> Any:
        found = read_snapshot(read_session, user_id)
        with session_factory() as writer:  # committed while the read was on its way
            with_status(writer, row, "canceled")
            writer.commit()
        return found

    monkeypatch.setattr(entitlement_cache, "read_snapshot", read_then_cancel)
    with session_factory() as reader:
        assert check(reader, "ann").access  # what the read saw, answered once
        monkeypatch.setattr(entitlement_cache, "read_snapshot", read_snapshot)
        assert not check(reader, "ann").access  # but not kept


def test_the_least_recently_checked_leave_first(session: Session, db_engine: Engine) -> None:
    small = entitlement_cache.EntitlementCache(db_engine, max_staleness=BOUND, size=2, rules=(CATALOG, 0))
    try:
        wait_until("the channel synced", small.healthy)
        for user in ("ann", "bob", "cy"):
            mirror_subscription(session, user)
        small.snapshot(db_engine, "ann")
        small.snapshot(db_engine, "bob")
        small.snapshot(db_engine, "ann")
        small.snapshot(db_engine, "cy")
        assert len(small) == 2
        hits = counter("paywire_entitlement_cache_hits_total")
        small.snapshot(db_engine, "ann")
        assert counter("paywire_entitlement_cache_hits_total") == hits + 1
        small.snapshot(db_engine, "bob")
        assert counter("paywire_entitlement_cache_hits_total") == hits + 1  # bob had left
    finally:
        small.close()


def test_what_waits_is_read_as_the_mirror_says(session: Session) -> None:
    """The snapshot keeps a schedule's phases and a pending payment as facts; decided from them
    they give what `pending_change_of` and `pending_payment_of` give from the rows."""
    row = mirror_subscription(session, "ann", plan="pro", period_start=1_900_000_000, period_end=1_902_592_000)
    item = row.items[0]
    later = {
        "start_date": 1_902_592_000,
        "items": [{"price": {"id": "price_basic", "lookup_key": "basic_month"}, "quantity": 1}],
    }
    now_phase = {"start_date": 1_900_000_000, "items": [{"price": item.price_id, "quantity": 1}]}
    stripe_object = {
        **row.stripe_object,
        "schedule": f"sub_sched_{row.id}",
        "latest_invoice": "in_1",
        "pending_update": {"expires_at": 1_900_100_000},
    }
    mirrored_subscriptions.write(
        session, stripe_object, user_id="ann", plan="pro", interval="month", version=read_version()
    )
    mirrored_schedules.write(session, schedule_for(row, [now_phase, later]), version=read_version())
    invoice = {"id": "in_1", "customer": "cus_test", "status": "open", "hosted_invoice_url": "https://pay/in_1"}
    mirrored_invoices.write(session, invoice, version=read_version())
    session.commit()
    snapshot = read_snapshot(session, "ann")
    stored = session.get(Subscription, row.id, populate_existing=True)
    assert stored is not None
    schedule = schedules.find(session, f"sub_sched_{row.id}")
    for now in (1_900_000_000, 1_900_100_000):
        decided = entitlement_at(snapshot, CATALOG, 0, now)
        assert decided.pending_change == pending_change_of(CATALOG, stored, schedule)
        assert decided.pending_change is not None and decided.pending_change.plan == "basic"
        assert decided.pending_payment == pending_payment_of(stored, invoices.find(session, "in_1"), now)
    assert entitlement_at(snapshot, CATALOG, 0, 1_900_000_000).pending_payment is not None


def test_a_zero_bound_turns_the_cache_off(session: Session, db_engine: Engine) -> None:
    off = load_settings(_env_file=None, PAYWIRE_ENTITLEMENT_MAX_STALENESS=0)
    mirror_subscription(session, "ann", plan="pro")
    before = fallbacks("off")
    entitlement_for(session, "ann", catalog=CATALOG, grace_seconds=0, settings=off)
    assert fallbacks("off") == before + 1
    with pytest.raises(ConfigError, match="PAYWIRE_ENTITLEMENT_MAX_STALENESS"):
        load_settings(_env_file=None, PAYWIRE_ENTITLEMENT_MAX_STALENESS=0.01)


def kill_channel(cache: entitlement_cache.EntitlementCache, database_url: str) -> None:
    """Break the channel as an outage would: PostgreSQL's listening connection is terminated by
    the server; SQLite's poll thread stops."""
    cache.channel.retry = 3.0  # the outage lasts long enough to be seen
    if make_url(database_url).get_backend_name() == "postgresql":
        pid = getattr(cache.channel, "backend_pid", None)
        assert pid is not None
        libpq = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(libpq, autocommit=True) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
    else:
        cache.channel.close()


def test_checks_read_the_mirror_while_the_channel_is_down_and_the_cache_recovers(
    session: Session, database_url: str, cache: entitlement_cache.EntitlementCache
) -> None:
    mirror_subscription(session, "ann", plan="pro")
    assert check(session, "ann").access
    kill_channel(cache, database_url)
    wait_until("the cache to notice", lambda: not cache.healthy())
    # Meanwhile a change that tells no cache (written behind paywire's back): only the mirror knows.
    session.execute(text("UPDATE subscriptions SET status = 'canceled'"))
    session.commit()
    before = fallbacks("channel")
    assert not check(session, "ann").access
    assert fallbacks("channel") >= before + 1
    wait_until("the channel back", cache.healthy)
    hits = counter("paywire_entitlement_cache_hits_total")
    assert not check(session, "ann").access  # read afresh: the entries started over
    assert not check(session, "ann").access
    assert counter("paywire_entitlement_cache_hits_total") == hits + 1


def test_another_process_s_change_reaches_the_cache_within_the_bound(
    session: Session, database_url: str, cache: entitlement_cache.EntitlementCache
) -> None:
    row = mirror_subscription(session, "ann", plan="pro")
    peer = Peer(database_url)
    try:

        def answered_from_its_cache() -> bool:
            hits = peer.counter("paywire_entitlement_cache_hits_total")
            return peer.check("ann").key[0] and peer.counter("paywire_entitlement_cache_hits_total") == hits + 1

        wait_until("the peer's cache serving", answered_from_its_cache)
        with_status(session, row, "canceled")
        session.commit()
        committed = time.monotonic()
        stale: list[float] = []  # when each check that still granted access started

        def sees_the_cancellation() -> bool:
            sample = peer.check("ann")
            if sample.key[0]:
                stale.append(sample.started)
            return not sample.key[0]

        wait_until("the peer to see the cancellation", sees_the_cancellation)
        # The bound: no check that started more than BOUND after the commit granted access.
        assert all(started - committed <= BOUND for started in stale), [round(t - committed, 3) for t in stale]
        channel = peer.counter("paywire_entitlement_cache_invalidations_total", source="channel")
        assert channel >= 1  # heard through the channel, not read on a timer
    finally:
        peer.close()


def test_a_disposed_engine_stops_its_channel(database_url: str) -> None:
    engine = make_engine(database_url)
    found = entitlement_cache.cache_for(engine, SETTINGS)
    assert found is not None
    wait_until("the channel synced", found.healthy)
    engine.dispose()
    assert found.closed
    wait_until("the channel's thread to end", lambda: not found.channel.running and found.channel.stopped_at)


def test_a_caller_passing_no_catalog_gets_the_environments_read_once(session: Session) -> None:
    first_catalog, grace = entitlement_cache.default_rules(session)
    again, _ = entitlement_cache.default_rules(session)
    assert again is first_catalog, "the catalog is read when the cache starts, not on every check"
    assert grace == load_settings().grace_seconds
