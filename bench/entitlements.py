"""What an entitlement check costs, from the process's cache and from the mirror, and how soon a
change reaches another process's cache: SQLite and PostgreSQL in one run.

    python bench/entitlements.py [--users 5000] [--duration 3] [--threads 4] [--changes 50]
                                 [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test] [--no-pg]

For each database: a fresh, migrated database (a SQLite file; on PostgreSQL a private database
created on the server and dropped after), `--users` users written through the mirror's own
writers (a subscription each, every tenth also a pass, every fifth a scheduled downgrade),
then:
- `entitlement_for` per call, warm (p50/p99) and cold (every user's first check), beside the
  yardstick the issue names: one `SELECT 1` through the same session;
- a request to a FastAPI app mounting paywire, gated by `require_feature`, and the same route
  with the bearer token only (in process, no sockets);
- a check, one thread, users picked at random: `entitlement_for(session, user)` from the
  cache (warm: every user checked once before), and read from the mirror (`fresh=True`,
  which is what every check cost before the cache);
- the same with a session opened per check, as a request does (`load_entitlement`);
- checks/s with `--threads` threads, both ways;
- a miss: the first check of each user after the cache was emptied (read and kept);
- a change's way to another process: a second process (its own engine and cache) checks one
  user in a loop; this one commits a change of that user's subscription `--changes` times,
  and the other reports when its cache first answers the new state (its channel: LISTEN on
  PostgreSQL, the poll on SQLite);
- what the version bump adds to a mirror write: a subscription write and its commit, with
  `entitlement_versions.bump` as shipped and with it replaced by a no-op.
Prints one table. Nothing is asserted: it is a report (bench/README.md has the figures).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import secrets
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psycopg
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

import paywire
from paywire.billing import entitlement_cache
from paywire.billing.entitlements import entitlement_for
from paywire.catalog import Catalog, load_catalog
from paywire.config import Settings, load_settings
from paywire.db.engine import make_engine, make_session_factory
from paywire.db.migrate import upgrade_to_head
from paywire.db.models import Order
from paywire.db.repositories import customers, entitlement_versions
from paywire.mirror import read_version
from paywire.mirror import schedules as mirrored_schedules
from paywire.mirror import subscriptions as mirrored_subscriptions
from paywire.web import CurrentUser, require_feature
from paywire.web.auth import issue_token

DAY = 86_400
AUTH_SECRET = "bench-entitlements-auth-secret-0123456789"
PLANS = ("basic", "advanced", "pro")


@dataclass
class Figures:
    database: str
    rows: dict[str, str] = field(default_factory=dict)


def stripe_subscription(n: int, user: str, plan: str, *, status: str = "active") -> dict[str, Any]:
    start = int(time.time()) - 10 * DAY
    return {
        "id": f"sub_bench{n}",
        "object": "subscription",
        "customer": f"cus_bench{n}",
        "status": status,
        "created": start,
        "cancel_at_period_end": False,
        "cancel_at": None,
        "canceled_at": None,
        "ended_at": None,
        "trial_start": None,
        "trial_end": None,
        "pause_collection": None,
        "latest_invoice": None,
        "schedule": f"sub_sched_bench{n}" if n % 5 == 0 else None,
        "metadata": {"user_id": user},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_bench{n}",
                    "object": "subscription_item",
                    "quantity": 1,
                    "current_period_start": start,
                    "current_period_end": start + 30 * DAY,
                    "price": {"id": f"price_{plan}_month", "lookup_key": f"{plan}_month", "product": f"prod_{plan}"},
                }
            ],
        },
    }


def seed(sessions: sessionmaker[Session], users: int) -> list[str]:
    """Users written as paywire writes them: through the mirror, with their versions."""
    ids = []
    with sessions() as session:
        for n in range(users):
            user = f"user_{n}"
            ids.append(user)
            plan = PLANS[n % 3]
            customers.add_customer(session, user_id=user, stripe_customer_id=f"cus_bench{n}", email=None)
            fresh = stripe_subscription(n, user, plan)
            mirrored_subscriptions.write(session, fresh, user_id=user, plan=plan, interval="month", version=1)
            if fresh["schedule"]:
                period_end = fresh["items"]["data"][0]["current_period_end"]
                phases = [
                    {"start_date": period_end - 30 * DAY, "items": [{"price": fresh["items"]["data"][0]["price"]}]},
                    {"start_date": period_end, "items": [{"price": {"id": "p", "lookup_key": "basic_month"}}]},
                ]
                schedule = {"id": fresh["schedule"], "subscription": fresh["id"], "status": "active", "phases": phases}
                mirrored_schedules.write(session, schedule, version=1)
            if n % 10 == 0:
                session.add(
                    Order(
                        user_id=user,
                        stripe_customer_id=f"cus_bench{n}",
                        checkout_session_id=f"cs_bench{n}",
                        product="pass-3-months",
                        grants_plan="basic",
                        status="fulfilled",
                        access_starts_at=int(time.time()) - DAY,
                        access_ends_at=int(time.time()) + 80 * DAY,
                    )
                )
            if n % 500 == 499:
                session.commit()
        session.commit()
    return ids


def per_call(fn: Callable[[], object], duration: float) -> tuple[float, int]:
    """(µs per call, calls) over `duration` seconds."""
    calls = 0
    started = time.perf_counter()
    deadline = started + duration
    while time.perf_counter() < deadline:
        for _ in range(50):
            fn()
        calls += 50
    return (time.perf_counter() - started) / calls * 1e6, calls


def timings(fn: Callable[[], object], duration: float) -> list[float]:
    """Each call's time (µs) over `duration` seconds, for percentiles."""
    times: list[float] = []
    deadline = time.perf_counter() + duration
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1e6)
    return times


def percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[int(0.99 * (len(ordered) - 1))]


def request_timings(database_url: str, users: list[str], rng: random.Random, duration: float) -> dict[str, list[float]]:
    """Requests to a FastAPI app mounting paywire, in process (ASGI, no sockets): a route gated
    by `require_feature` and the same route with only the bearer token checked, so the
    difference is what the gate costs inside a request."""
    settings = load_settings(
        _env_file=None,
        DATABASE_URL=database_url,
        STRIPE_SECRET_KEY="sk_test_bench_entitlements",
        PAYWIRE_AUTH_SECRET=AUTH_SECRET,
    )
    app = FastAPI()
    paywire.mount(app, settings)

    @app.get("/gated", dependencies=[Depends(require_feature("export"))])
    def gated() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/open")
    def open_route(user: CurrentUser) -> dict[str, bool]:
        return {"ok": True}

    tokens = {user: issue_token(AUTH_SECRET, user, None, 3600) for user in users[:500]}
    found: dict[str, list[float]] = {}
    with TestClient(app) as client:
        for path in ("/gated", "/open"):

            def call(path: str = path) -> object:
                token = tokens[rng.choice(list(tokens))]
                answer = client.get(path, headers={"Authorization": f"Bearer {token}"})
                assert answer.status_code in (200, 403), answer.text
                return answer

            for user in tokens:  # warm: each user checked once
                client.get(path, headers={"Authorization": f"Bearer {tokens[user]}"})
            found[path] = timings(call, duration)
    return found


def threaded_rate(fn: Callable[[], object], threads: int, duration: float) -> float:
    """Calls/s of `fn` from `threads` threads at once."""
    counts = [0] * threads
    stop = threading.Event()

    def run(i: int) -> None:
        while not stop.is_set():
            fn()
            counts[i] += 1

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    time.sleep(duration)
    stop.set()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - started)


def _peer(pipe: Connection, database_url: str, user: str) -> None:
    """The other process: check `user` in a loop from its cache; report when the answer turns."""
    settings = load_settings(_env_file=None)
    engine = make_engine(database_url)
    catalog = load_catalog()
    with Session(engine) as session:
        cache = entitlement_cache.cache_for(engine, settings)
        assert cache is not None
        while not cache.healthy():
            time.sleep(0.01)
        pipe.send("ready")
        while True:
            wanted = pipe.recv()
            if wanted is None:
                break
            while entitlement_for(session, user, catalog=catalog, grace_seconds=0, settings=settings).access != wanted:
                time.sleep(0.0005)
            pipe.send(time.monotonic())
    engine.dispose()


def change_latency(sessions: sessionmaker[Session], database_url: str, changes: int) -> list[float]:
    """Seconds from a commit here to the other process's cache answering the new state."""
    context = multiprocessing.get_context("spawn")
    pipe, child = context.Pipe()
    process = context.Process(target=_peer, args=(child, database_url, "user_1"), daemon=True)
    process.start()
    assert pipe.recv() == "ready"
    latencies = []
    rng = random.Random(2)
    with sessions() as session:
        for i in range(changes):
            access = i % 2 == 1
            fresh = stripe_subscription(1, "user_1", "advanced", status="active" if access else "canceled")
            fresh["schedule"] = None
            pipe.send(access)
            # The other process is checking the old answer from its cache by now; the commit
            # comes at a random moment of its channel's cycle.
            time.sleep(rng.uniform(0.02, 0.3))
            mirrored_subscriptions.write(
                session, fresh, user_id="user_1", plan="advanced", interval="month", version=read_version()
            )
            session.commit()
            committed = time.monotonic()
            latencies.append(pipe.recv() - committed)
    pipe.send(None)
    process.join(timeout=30)
    return latencies


def write_cost(sessions: sessionmaker[Session], writes: int) -> float:
    """µs per subscription write + commit."""
    started = time.perf_counter()
    with sessions() as session:
        for i in range(writes):
            n = 2 + (i % 50) * 3
            fresh = stripe_subscription(n, f"user_{n}", "pro")
            mirrored_subscriptions.write(
                session, fresh, user_id=f"user_{n}", plan="pro", interval="month", version=read_version()
            )
            session.commit()
    return (time.perf_counter() - started) / writes * 1e6


@contextmanager
def bump_disabled() -> Iterator[None]:
    original = entitlement_versions.bump
    entitlement_versions.bump = lambda *args, **kwargs: None  # type: ignore[assignment]
    try:
        yield
    finally:
        entitlement_versions.bump = original  # type: ignore[assignment]


def measure(name: str, database_url: str, args: argparse.Namespace) -> Figures:
    figures = Figures(name)
    upgrade_to_head(database_url)
    engine: Engine = make_engine(database_url, pool_size=args.threads + 2)
    sessions = make_session_factory(engine)
    settings: Settings = load_settings(_env_file=None)
    catalog: Catalog = load_catalog()
    t = time.perf_counter()
    users = seed(sessions, args.users)
    print(f"{name}: seeded {len(users)} users in {time.perf_counter() - t:.1f} s", flush=True)
    rng = random.Random(1)
    cache = entitlement_cache.cache_for(engine, settings)
    assert cache is not None
    while not cache.healthy():
        time.sleep(0.01)

    session = sessions()

    def check(fresh: bool) -> Callable[[], object]:
        return lambda: entitlement_for(
            session, rng.choice(users), catalog=catalog, grace_seconds=0, fresh=fresh, settings=settings
        )

    def request(fresh: bool) -> Callable[[], object]:
        def one() -> object:
            with sessions() as own:
                return entitlement_for(
                    own, rng.choice(users), catalog=catalog, grace_seconds=0, fresh=fresh, settings=settings
                )

        return one

    cold: list[float] = []
    for user in users:
        started = time.perf_counter()
        check_one = entitlement_for(session, user, catalog=catalog, grace_seconds=0, settings=settings)
        cold.append((time.perf_counter() - started) * 1e6)
        assert check_one.access
    miss_us = statistics.fmean(cold)
    warm = timings(check(False), args.duration)
    select_one = timings(lambda: session.execute(text("SELECT 1")).scalar(), args.duration)
    session.rollback()
    cached_us, _ = per_call(check(False), args.duration)
    mirror_us, _ = per_call(check(True), args.duration)
    cached_request_us, _ = per_call(request(False), args.duration)
    mirror_request_us, _ = per_call(request(True), args.duration)
    cached_rate = threaded_rate(request(False), args.threads, args.duration)
    mirror_rate = threaded_rate(request(True), args.threads, args.duration)
    session.close()

    requests = request_timings(database_url, users, rng, args.duration)
    latencies = change_latency(sessions, database_url, args.changes)
    plain_writes, bumped_writes = [], []
    for _ in range(3):  # interleaved, the median of three: the machine's load moves meanwhile
        with bump_disabled():
            plain_writes.append(write_cost(sessions, 200))
        bumped_writes.append(write_cost(sessions, 200))
    plain_write, bumped_write = statistics.median(plain_writes), statistics.median(bumped_writes)

    ordered = sorted(latencies)
    warm50, warm99 = percentiles(warm)
    cold50, cold99 = percentiles(cold)
    one50, one99 = percentiles(select_one)
    gate50, gate99 = percentiles(requests["/gated"])
    open50, open99 = percentiles(requests["/open"])
    figures.rows = {
        "`entitlement_for` warm, p50 / p99 (µs)": f"{warm50:,.1f} / {warm99:,.1f}",
        "`entitlement_for` cold (a miss), p50 / p99 (µs)": f"{cold50:,.0f} / {cold99:,.0f}",
        "yardstick: `SELECT 1` through the same session, p50 / p99 (µs)": f"{one50:,.1f} / {one99:,.1f}",
        "a request gated by `require_feature`, p50 / p99 (µs)": f"{gate50:,.0f} / {gate99:,.0f}",
        "the same request, bearer token only, p50 / p99 (µs)": f"{open50:,.0f} / {open99:,.0f}",
        "check from the cache (µs, one session, mean)": f"{cached_us:,.1f}",
        "check from the mirror, fresh=True (µs, one session)": f"{mirror_us:,.0f}",
        "check from the cache, a session per check (µs)": f"{cached_request_us:,.1f}",
        "check from the mirror, a session per check (µs)": f"{mirror_request_us:,.0f}",
        f"checks/s, cache, {args.threads} threads": f"{cached_rate:,.0f}",
        f"checks/s, mirror, {args.threads} threads": f"{mirror_rate:,.0f}",
        "a miss: read and keep one user's snapshot (µs)": f"{miss_us:,.0f}",
        f"a change seen by another process's cache, p50 / p99 / max (ms, {len(latencies)} changes)": (
            f"{statistics.median(ordered) * 1000:.1f} / {ordered[int(0.99 * (len(ordered) - 1))] * 1000:.1f}"
            f" / {ordered[-1] * 1000:.1f}"
        ),
        "subscription write + commit, without / with the version bump (µs)": (
            f"{plain_write:,.0f} / {bumped_write:,.0f}"
        ),
    }
    engine.dispose()
    return figures


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="paywire-bench-") as folder:
        yield f"sqlite:///{Path(folder) / 'paywire.sqlite3'}"


@contextmanager
def postgres_database(server: str) -> Iterator[str]:
    name = f"paywire_bench_{secrets.token_hex(4)}"
    libpq = make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server).set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per timed measurement")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument(
        "--pg",
        default=os.environ.get("PAYWIRE_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
        help="a PostgreSQL server (a private database is created on it and dropped after)",
    )
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()

    results = []
    with sqlite_database() as url:
        results.append(measure("SQLite", url, args))
    if not args.no_pg:
        with postgres_database(args.pg) as url:
            results.append(measure("PostgreSQL", url, args))

    load = os.getloadavg()
    print(f"\n{os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}, {args.users} users\n")
    print("| | " + " | ".join(r.database for r in results) + " |")
    print("|---|" + "---|" * len(results))
    for row in results[0].rows:
        print(f"| {row} | " + " | ".join(r.rows[row] for r in results) + " |")


if __name__ == "__main__":
    main()
