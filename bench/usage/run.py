"""Usage benchmark: recording usage through `POST /api/usage` and sending it to Stripe.

    .venv/bin/python bench/usage/run.py                  # SQLite, then PostgreSQL; ~6 minutes
    .venv/bin/python bench/usage/run.py --db sqlite --duration 3

For each database, in one run, against real servers (uvicorn) and a real client (a separate
load-generator process, `usage_load.py`):
1. stripesim, a migrated database, paywire's catalog pushed, `paywire serve` as shipped (the
   receiver, the worker and the usage sender in a worker process; the request budget at its
   test-mode default, which meter events do not draw on) and its webhook endpoint;
   50 Scale subscribers made through paywire (customer links) and stripesim (subscriptions),
   mirrored by the worker;
2. **the floor** (`bench/webhooks/floor_app.py`: a signed webhook verified and inserted, one
   per request) on its own database of the same kind, at 32 and 64 connections: the events a
   second the target below is compared with;
3. **one event per request**: usage posted one event a request at 32 and 64 connections;
   **batches of 100**: `{"events": [100 events]}` at 4 and 8 connections. Each phase 5 seconds
   (`--duration`); accepted events a second, each request's latency (p50, p99), and the CPU
   each 1,000 events cost paywire's processes, stripesim and the load generator;
4. the sender works the table off: how many events waited after the load, how long it took
   (events a second, CPU per 1,000), the lag from recording to Stripe taking an event
   (`sent_at - recorded_at`, p50/p99/max), Stripe requests it made per 10,000 events (from
   `/metrics`), and Stripe's own count (the meter's summaries) against what was recorded; then a
   steady 500 events a second (one a request) and its lag;
5. **the one-call-per-event pattern** (what a client library calling `meter_events.create` at
   every use does, Cashier's `reportMeterEvent`): 5,000 events, each its own Stripe request from
   the product, on 8 threads; its requests per 10,000 events and events a second;
6. peak RSS of paywire's processes (the server and its worker process).

Nothing is asserted. On a shared 2-core machine runs vary by ±30 %: compare figures of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import stripe
from sqlalchemy import func, select, text

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE.parent / "webhooks"))

from procs import Databases, Server, free_port, install_cleanup, load_average, log, percentile, postgres_reachable  # noqa: E402

from paywire.billing.customers import get_or_create_customer  # noqa: E402
from paywire.config import load_settings  # noqa: E402
from paywire.db.engine import make_engine, make_session_factory  # noqa: E402
from paywire.db.models import Subscription, UsageRecord  # noqa: E402
from paywire.stripe import StripeGateway  # noqa: E402

KEY = "sk_test_paywire_bench_usage_0123456789"
TOKEN = "bench-usage-service-token-0123456789"
WEBHOOK_SECRET_FOR_FLOOR = "whsec_bench_usage_floor_0123456789"
USERS = 50


def paywire(args: list[str], env: dict[str, str], cwd: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "paywire.cli.main", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )
    if out.returncode != 0:
        raise RuntimeError(f"paywire {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def database(kind: str, work: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{work / f'usage-{uuid.uuid4().hex[:6]}.sqlite3'}"
    return Databases.url(Databases.create(f"paywire_bench_usage_{uuid.uuid4().hex[:8]}"))


def env_for(sim_url: str, db_url: str, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "PAYWIRE_", "DATABASE_URL"))}
    return {
        **base,
        "STRIPE_SECRET_KEY": KEY,
        "STRIPE_API_BASE": sim_url,
        "DATABASE_URL": db_url,
        "PAYWIRE_AUTH_SECRET": "bench-usage-auth-secret-0123456789abcdef",
        "PAYWIRE_SERVICE_TOKENS": f"bench:{TOKEN}",
        "PAYWIRE_USAGE_RATE_LIMIT": "5000",
        "PAYWIRE_USAGE_SEND_INTERVAL": "0.2",
        "PAYWIRE_RECOVERY_INTERVAL": "0",
        "PAYWIRE_LOG_LEVEL": "WARNING",
        **extra,
    }


def start_paywire(sim_url: str, db_url: str, work: Path) -> tuple[Server, dict[str, str]]:
    env = env_for(sim_url, db_url)
    paywire(["migrate"], env, work)
    paywire(["catalog", "push"], env, work)
    port = free_port()
    client = stripe.StripeClient(KEY, base_addresses={"api": sim_url})
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": f"http://127.0.0.1:{port}/webhooks/stripe", "enabled_events": ["*"]}
    )
    env["STRIPE_WEBHOOK_SECRET"] = str(endpoint.secret)
    server = Server(
        "paywire",
        [sys.executable, "-m", "paywire.cli.main", "serve", "--port", "{port}"],
        env=env,
        cwd=work,
        log=work / "paywire.log",
        port=port,
    )
    server.wait_ready("/readyz", timeout=120)
    return server, env


def make_subscribers(sim_url: str, db_url: str, count: int) -> list[str]:
    """`count` Scale subscribers: the customer link through paywire, the subscription in
    stripesim (a card on file), mirrored by the running worker from its webhooks."""
    settings = load_settings(
        STRIPE_SECRET_KEY=KEY,
        STRIPE_API_BASE=sim_url,
        DATABASE_URL=db_url,
        PAYWIRE_STRIPE_RATE_LIMIT="off",  # the set-up, not measured, goes at once
        _env_file=None,
    )
    gateway = StripeGateway.from_settings(settings)
    engine = make_engine(db_url)
    sessions = make_session_factory(engine)
    client = stripe.StripeClient(KEY, base_addresses={"api": sim_url})
    found = gateway.list_prices_by_lookup_keys(["scale_month", "scale_api_calls_month"])
    flat, metered = found["scale_month"]["id"], found["scale_api_calls_month"]["id"]
    users = [f"bench-{i}" for i in range(count)]

    def subscribe(user: str) -> None:
        with sessions() as session:
            customer = get_or_create_customer(session, gateway, user_id=user, email=f"{user}@example.com")
            session.commit()
            customer_id = customer.stripe_customer_id
        card = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer_id})
        client.v1.customers.update(customer_id, params={"invoice_settings": {"default_payment_method": card.id}})
        client.v1.subscriptions.create(
            params={
                "customer": customer_id,
                "items": [{"price": flat}, {"price": metered}],
                "metadata": {"user_id": user, "plan": "scale", "interval": "month"},
            }
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(subscribe, users))
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        with sessions() as session:
            active = session.scalar(
                select(func.count()).select_from(Subscription).where(Subscription.status == "active")
            )
        if active == count:
            break
        time.sleep(0.5)
    else:
        raise RuntimeError("the subscriptions were not mirrored in time")
    engine.dispose()
    return users


def load(
    url: str,
    users: list[str],
    *,
    batch: int,
    concurrency: int,
    duration: float,
    prefix: str,
    work: Path,
    rate: float = 0.0,
) -> dict[str, Any]:
    out = work / f"{prefix}.json"
    subprocess.run(
        [
            sys.executable,
            str(HERE / "usage_load.py"),
            "--url",
            url,
            "--token",
            TOKEN,
            "--users",
            ",".join(users),
            "--batch",
            str(batch),
            "--concurrency",
            str(concurrency),
            "--duration",
            str(duration),
            "--prefix",
            prefix,
            "--out",
            str(out),
            "--rate",
            str(rate),
        ],
        check=True,
        timeout=300,
    )
    result = json.loads(out.read_text())
    latencies = result.pop("latencies")
    result.update(
        concurrency=concurrency,
        batch=batch,
        rate=rate,
        events_per_s=result["accepted_requests"] * batch / result["elapsed"],
        p50_ms=1000 * (percentile(latencies, 0.5) or 0),
        p99_ms=1000 * (percentile(latencies, 0.99) or 0),
    )
    log(
        f"  {batch:>3} a request, {concurrency:>2} connections: {result['events_per_s']:>9,.0f} events/s, "
        f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, statuses {result['statuses']}"
    )
    return result


def cpu_now(server: Server, sim: Server) -> dict[str, float]:
    """CPU seconds used so far: paywire's processes (the server and its worker process, where
    the sender runs), stripesim's, and the load generators' (children run and waited for)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = children.ru_utime + children.ru_stime
    return {"paywire": server.cpu_seconds(), "stripesim": sim.cpu_seconds(), "client": client}


def cpu_per_1k(before: dict[str, float], after: dict[str, float], events: int) -> dict[str, float]:
    return {k: round(1_000_000 * (after[k] - before[k]) / max(events, 1), 1) for k in before}


def floor(kind: str, work: Path, duration: float) -> dict[str, Any]:
    """The webhook bench's floor at 32 and 64 connections: the best events a second."""
    db_url = database(kind, work)
    server = Server(
        "floor",
        [
            sys.executable,
            str(HERE.parent / "webhooks" / "floor_app.py"),
            "--port",
            "{port}",
            "--database",
            db_url,
            "--secret",
            WEBHOOK_SECRET_FOR_FLOOR,
        ],
        log=work / f"floor-{kind}.log",
    )
    server.wait_ready("/healthz")
    events = work / "floor-events.jsonl"
    per_level = int(duration * 15_000)  # more than the floor acknowledges in `duration` here
    pad = "x" * 1000  # about the size of a small real event
    with events.open("w") as f:
        for i in range(2 * per_level):
            event_id = f"evt_floor_{uuid.uuid4().hex}_{i}"
            body = {"id": event_id, "object": "event", "type": "customer.updated", "pad": pad}
            f.write(json.dumps(body) + "\n")
    best: dict[str, Any] = {}
    first = 0
    for concurrency in (32, 64):
        out = work / f"floor-{kind}-{concurrency}.json"
        subprocess.run(
            [
                sys.executable,
                str(HERE.parent / "webhooks" / "loadgen.py"),
                "--url",
                f"{server.url}/webhooks/stripe",
                "--secret",
                WEBHOOK_SECRET_FOR_FLOOR,
                "--events",
                str(events),
                "--first",
                str(first),
                "--count",
                str(per_level),
                "--concurrency",
                str(concurrency),
                "--duration",
                str(duration),
                "--out",
                str(out),
            ],
            check=True,
            timeout=300,
        )
        first += per_level
        result = json.loads(out.read_text())
        ok = sum(1 for r in result["results"] if r[1] == 200)
        rate = ok / result["elapsed"]
        log(f"  floor, {concurrency} connections: {rate:,.0f} events/s")
        if rate > best.get("events_per_s", 0):
            best = {"concurrency": concurrency, "events_per_s": rate}
    server.stop()
    return best


def metrics(url: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in httpx.get(f"{url}/metrics", timeout=30, trust_env=False).text.splitlines():
        if line.startswith(("paywire_usage_stripe_requests_total", "paywire_usage_sent_total")):
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found


def drain(db_url: str, recorded: int, timeout: float = 600) -> dict[str, Any]:
    """Wait for the sender to have sent everything; the lag from recording to Stripe."""
    engine = make_engine(db_url)
    sessions = make_session_factory(engine)
    started = time.monotonic()
    waiting: int | None = None
    while time.monotonic() - started < timeout:
        with sessions() as session:
            pending = session.scalar(
                select(func.count()).select_from(UsageRecord).where(UsageRecord.state == "pending")
            )
        waiting = pending if waiting is None else waiting
        if not pending:
            break
        time.sleep(0.25)
    waited = time.monotonic() - started
    with sessions() as session:
        rows = session.execute(select(UsageRecord.recorded_at, UsageRecord.sent_at, UsageRecord.state)).all()
    engine.dispose()
    lags = [(sent - recorded_at).total_seconds() for recorded_at, sent, state in rows if sent is not None]
    states: dict[str, int] = {}
    for *_, state in rows:
        states[state] = states.get(state, 0) + 1
    return {
        "drain_after_load_s": waited,
        "waiting_after_load": waiting or 0,
        "drain_events_per_s": (waiting or 0) / waited if waited else None,
        "rows": len(rows),
        "states": states,
        "lag_p50_s": percentile(lags, 0.5),
        "lag_p99_s": percentile(lags, 0.99),
        "lag_max_s": max(lags) if lags else None,
    }


def steady_lag(db_url: str, prefix: str, timeout: float = 120) -> dict[str, float | None]:
    """The lag of the events of one phase (by identifier prefix), once all are sent."""
    engine = make_engine(db_url)
    sessions = make_session_factory(engine)
    mine = UsageRecord.identifier.like(f"{prefix}-%")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sessions() as session:
            waiting = session.scalar(
                select(func.count()).select_from(UsageRecord).where(mine, UsageRecord.state == "pending")
            )
        if not waiting:
            break
        time.sleep(0.25)
    with sessions() as session:
        rows = session.execute(select(UsageRecord.recorded_at, UsageRecord.sent_at).where(mine)).all()
    engine.dispose()
    lags = [(sent - recorded).total_seconds() for recorded, sent in rows if sent is not None]
    return {"p50": percentile(lags, 0.5), "p99": percentile(lags, 0.99), "max": max(lags) if lags else None}


def stripe_total(sim_url: str, users: list[str], db_url: str) -> int:
    """Stripe's own count: the meter's summaries of every subscriber, summed."""
    client = stripe.StripeClient(KEY, base_addresses={"api": sim_url})
    meter = next(m for m in client.v1.billing.meters.list().data if m.event_name == "api_calls")
    engine = make_engine(db_url)
    with engine.connect() as connection:
        customers = [row[0] for row in connection.execute(text("SELECT stripe_customer_id FROM customers"))]
    engine.dispose()
    now = int(time.time())
    start, end = now - now % 60 - 86400, now - now % 60 + 3600
    total = 0.0
    for customer in customers:
        page = client.v1.billing.meters.event_summaries.list(
            meter.id, params={"customer": customer, "start_time": start, "end_time": end}
        )
        total += sum(s.aggregated_value for s in page.data)
    return int(total)


def one_call_per_event(sim_url: str, users: list[str], db_url: str, events: int) -> dict[str, Any]:
    """The pattern paywire replaces: the product calls `meter_events.create` at every use."""
    engine = make_engine(db_url)
    with engine.connect() as connection:
        customers = [row[0] for row in connection.execute(text("SELECT stripe_customer_id FROM customers"))]
    engine.dispose()
    calls = 0
    lock = threading.Lock()
    latencies: list[float] = []

    def use(i: int) -> None:
        nonlocal calls
        client = clients[threading.get_ident() % len(clients)]
        t0 = time.perf_counter()
        client.v1.billing.meter_events.create(
            params={
                "event_name": "api_calls",
                "identifier": f"naive-{uuid.uuid4().hex}",
                "payload": {"stripe_customer_id": customers[i % len(customers)], "value": "1"},
            }
        )
        with lock:
            calls += 1
            latencies.append(time.perf_counter() - t0)

    clients = [stripe.StripeClient(KEY, base_addresses={"api": sim_url}) for _ in range(8)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(use, range(events)))
    elapsed = time.perf_counter() - started
    result = {
        "events": events,
        "stripe_requests": calls,
        "requests_per_10k": 10_000 * calls / events,
        "events_per_s": events / elapsed,
        "p50_ms": 1000 * (percentile(latencies, 0.5) or 0),
        "p99_ms": 1000 * (percentile(latencies, 0.99) or 0),
    }
    log(
        f"  one call per event: {result['events_per_s']:,.0f} events/s, "
        f"{result['requests_per_10k']:,.0f} requests per 10,000 events, p99 {result['p99_ms']:.1f} ms"
    )
    return result


def bench(kind: str, work: Path, duration: float) -> dict[str, Any]:
    log(f"== {kind}")
    sim = Server("stripesim", [sys.executable, "-m", "stripesim.cli", "--port", "{port}"], log=work / f"sim-{kind}.log")
    sim.wait_ready("/_sim/health")
    db_url = database(kind, work)
    server, _ = start_paywire(sim.url, db_url, work)
    users = make_subscribers(sim.url, db_url, USERS)
    log(f"  {len(users)} Scale subscribers mirrored; load average {load_average()}")
    floor_result = floor(kind, work, duration)
    url = f"{server.url}/api/usage"
    before = metrics(server.url)
    phases = []
    for batch, levels in ((1, (32, 64)), (100, (4, 8))):
        for concurrency in levels:
            prefix = f"{kind}-{batch}-{concurrency}"
            cpu = cpu_now(server, sim)
            phase = load(url, users, batch=batch, concurrency=concurrency, duration=duration, prefix=prefix, work=work)
            phase["cpu_ms_per_1k"] = cpu_per_1k(cpu, cpu_now(server, sim), phase["accepted_requests"] * batch)
            log(f"      CPU per 1,000 events (ms): {phase['cpu_ms_per_1k']}")
            phases.append(phase)
    cpu = cpu_now(server, sim)
    drained = drain(db_url, sum(p["accepted_requests"] * p["batch"] for p in phases))
    drained["drain_cpu_ms_per_1k"] = cpu_per_1k(cpu, cpu_now(server, sim), drained["waiting_after_load"])
    log(
        f"  after the load: {drained['waiting_after_load']:,} events waiting, "
        f"sent in {drained['drain_after_load_s']:.1f} s "
        f"({drained['drain_events_per_s'] or 0:,.0f}/s); CPU per 1,000 events (ms): {drained['drain_cpu_ms_per_1k']}"
    )
    # A steady load (500 events a second, one a request) once the table is empty: the lag a
    # product sees in ordinary times, no burst to hold off for.
    steady = load(url, users, batch=1, concurrency=8, duration=duration, prefix=f"{kind}-steady", work=work, rate=500)
    steady_lags = steady_lag(db_url, f"{kind}-steady")
    log(
        f"  steady 500 events/s: lag p50 {steady_lags['p50']:.2f} s, p99 {steady_lags['p99']:.2f} s, "
        f"max {steady_lags['max']:.2f} s"
    )
    phases.append(steady)
    recorded = sum(p["accepted_requests"] * p["batch"] for p in phases)
    after = metrics(server.url)
    asked = "paywire_usage_stripe_requests_total"
    requests = sum(v - before.get(k, 0) for k, v in after.items() if k.startswith(asked))
    sent = sum(v - before.get(k, 0) for k, v in after.items() if k.startswith("paywire_usage_sent_total"))
    by_kind = {
        k.split('kind="')[1].rstrip('"}'): v - before.get(k, 0)
        for k, v in after.items()
        if k.startswith("paywire_usage_stripe_requests_total")
    }
    sending = sum(n for kind, n in by_kind.items() if kind in ("stream", "session", "v1"))
    counted = stripe_total(sim.url, users, db_url)
    naive = one_call_per_event(sim.url, users, db_url, min(recorded, 5000))
    rss = server.peak_rss_mb()
    server.stop()
    sim.stop()
    single = max((p for p in phases if p["batch"] == 1 and not p["rate"]), key=lambda p: p["events_per_s"])
    batched = max((p for p in phases if p["batch"] == 100), key=lambda p: p["events_per_s"])
    result = {
        "database": kind,
        "floor": floor_result,
        "phases": phases,
        "single": single,
        "batched": batched,
        "recorded": recorded,
        "sent": sent,
        "stripe_counted": counted,
        "stripe_requests": requests,
        "stripe_requests_by_kind": by_kind,
        "requests_per_10k": 10_000 * requests / sent if sent else None,
        "sending_requests_per_10k": 10_000 * sending / sent if sent else None,
        "one_call_per_event": naive,
        "peak_rss_mb": rss,
        "steady_lag": steady_lags,
        **drained,
    }
    log(
        f"  sender: {sent:,.0f} events sent in {requests:,.0f} Stripe requests ({by_kind}), "
        f"{result['requests_per_10k']:.1f} per 10,000; Stripe counted {counted:,} of {recorded:,} recorded; "
        f"drained {drained['drain_after_load_s']:.1f} s after the load; lag p50 {drained['lag_p50_s']:.2f} s, "
        f"p99 {drained['lag_p99_s']:.2f} s, max {drained['lag_max_s']:.2f} s; peak RSS {rss:.0f} MB"
    )
    return result


def table(results: list[dict[str, Any]]) -> str:
    """The report: one column per database."""
    rows: list[tuple[str, Any]] = [
        ("floor (webhooks), events/s", lambda r: f"{r['floor']['events_per_s']:,.0f}"),
        ("one event a request, events/s", lambda r: f"{r['single']['events_per_s']:,.0f}"),
        ("… against the floor", lambda r: f"{r['single']['events_per_s'] / r['floor']['events_per_s']:.2f} ×"),
        ("… p50 / p99 (ms)", lambda r: f"{r['single']['p50_ms']:.1f} / {r['single']['p99_ms']:.1f}"),
        (
            "… CPU per 1,000 events, paywire / stripesim / client (ms)",
            lambda r: " / ".join(f"{v:.0f}" for v in r["single"]["cpu_ms_per_1k"].values()),
        ),
        ("batches of 100, events/s", lambda r: f"{r['batched']['events_per_s']:,.0f}"),
        ("… p50 / p99 per request (ms)", lambda r: f"{r['batched']['p50_ms']:.1f} / {r['batched']['p99_ms']:.1f}"),
        (
            "… CPU per 1,000 events, paywire / stripesim / client (ms)",
            lambda r: " / ".join(f"{v:.0f}" for v in r["batched"]["cpu_ms_per_1k"].values()),
        ),
        (
            "Stripe requests per 10,000 events, paywire (sending; with error-report reads)",
            lambda r: f"{r['sending_requests_per_10k']:.1f}; {r['requests_per_10k']:.1f}",
        ),
        (
            "Stripe requests per 10,000 events, one call per event",
            lambda r: f"{r['one_call_per_event']['requests_per_10k']:,.0f}",
        ),
        ("one call per event, events/s (8 threads)", lambda r: f"{r['one_call_per_event']['events_per_s']:,.0f}"),
        ("recorded / counted by Stripe", lambda r: f"{r['recorded']:,} / {r['stripe_counted']:,}"),
        (
            "lag record → Stripe at a steady 500/s, p50 / p99 / max (s)",
            lambda r: f"{r['steady_lag']['p50']:.2f} / {r['steady_lag']['p99']:.2f} / {r['steady_lag']['max']:.2f}",
        ),
        (
            "lag record → Stripe through the bursts above, p50 / p99 / max (s)",
            lambda r: f"{r['lag_p50_s']:.1f} / {r['lag_p99_s']:.1f} / {r['lag_max_s']:.1f}",
        ),
        (
            "the sender after the load: events waiting, sent in (s), events/s",
            lambda r: (
                f"{r['waiting_after_load']:,} in {r['drain_after_load_s']:.1f}: {r['drain_events_per_s'] or 0:,.0f}"
            ),
        ),
        (
            "… CPU per 1,000 events sent, paywire / stripesim (ms)",
            lambda r: f"{r['drain_cpu_ms_per_1k']['paywire']:.0f} / {r['drain_cpu_ms_per_1k']['stripesim']:.0f}",
        ),
        ("peak RSS, server + worker (MB)", lambda r: f"{r['peak_rss_mb']:.0f}"),
    ]
    lines = ["| | " + " | ".join(r["database"] for r in results) + " |", "|---|" + "---|" * len(results)]
    lines += [f"| {name} | " + " | ".join(show(r) for r in results) + " |" for name, show in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args()
    install_cleanup()
    kinds = [k.strip() for k in args.db.split(",") if k.strip()]
    if "postgresql" in kinds and (problem := postgres_reachable()) is not None:
        log(f"PostgreSQL unreachable ({problem}): SQLite only")
        kinds = [k for k in kinds if k != "postgresql"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout
    log(f"usage bench at {commit.strip()}, {os.cpu_count()} CPUs, load average {load_average()}")
    with tempfile.TemporaryDirectory(prefix="paywire-usage-bench-") as scratch:
        results = [bench(kind, Path(scratch), args.duration) for kind in kinds]
    log("")
    log(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
