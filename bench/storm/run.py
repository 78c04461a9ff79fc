"""The first of the month: a renewal storm within Stripe's rate limits, and `paywire sync` at scale.

    .venv/bin/python bench/storm/run.py                      # storm (10,000) + sync (100,000), ~1-2 hours
    .venv/bin/python bench/storm/run.py --quick              # 1,000 subscribers, 5,000 to sync, ~15 minutes
    .venv/bin/python bench/storm/run.py --phases storm --storm-targets paywire --db sqlite

Phase 1, the storm (per target and database): a stripesim started from the account `world.py`
built (N subscribers on one test clock, basic monthly by card; upgraders on no clock), stripesim
limiting every key to 25 requests a second (Stripe's test mode) with Stripe's 429; paywire
migrated, the account adopted into its mirror (`paywire sync --adopt`, before the clock moves),
`paywire serve` as shipped with the default request budget (20/s for a test key). Then the clock
advances past the renewal: N renewals, ~9 events each, delivered by stripesim as Stripe would;
meanwhile a user upgrades every few seconds (POST /api/subscription/change) and a `paywire sync`
runs. paywire reaches stripesim through a counting proxy in its own process (proxy.py: when
each request arrived there). Measured from that proxy, from paywire's own log of its requests
(PAYWIRE_STRIPE_REQUEST_LOG: when each left, and its slot), from stripesim's log (when each
reached its event loop, and its status), paywire's inbox and /metrics: Stripe requests per event,
peak requests in any second (as they left, at the proxy, at stripesim), 429s, the
time until the mirror equals Stripe (the last storm event applied; checked field by field at
the end), the upgrade's p50/p99, dead letters. The same storm through paywire with the payload
rule off (PAYWIRE_APPLY_EVENT_PAYLOADS=false) and through dj-stripe 2.11 (the webhooks bench's
site, `bench/webhooks/djstripe_site`; PostgreSQL; no budget: it meets the 429s).

Phase 2, sync: M trial subscriptions on no clock; `paywire sync --adopt` into an empty database
with the default budget: its time against the floor the budget sets (list pages ÷ 20/s), its
peak memory.

Nothing is asserted; the report is printed and written to results/<timestamp>.{json,md}
(git-ignored). Every process it starts is stopped and every database dropped, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import psycopg

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "webhooks"))

import world as accounts  # noqa: E402
from procs import Databases, Server, free_port, install_cleanup, load_average, log, percentile, postgres_reachable  # noqa: E402
from targets import DJSTRIPE_SITE, ensure_djstripe_venv  # noqa: E402

RESULTS = HERE / "results"
CACHE = HERE / ".cache"
AUTH_SECRET = "bench-only-auth-secret-0123456789abcdef"
STRIPE_LIMIT = 25.0  # stripesim's, per key: Stripe's test mode
DJSTRIPE_KEY = "sk_test_StormBenchDjstripeKey00000000"  # dj-stripe wants sk_test_ + 24+ alphanumerics
LISTS = ("/v1/customers", "/v1/subscriptions", "/v1/invoices", "/v1/prices", "/v2/core/accounts")


# ----- the account ------------------------------------------------------------------------------
def account(kind: str, size: int, upgraders: int, src: Path) -> tuple[Path, accounts.World]:
    """The account's state file, built once per size and kept in .cache (git-ignored)."""
    CACHE.mkdir(exist_ok=True)
    state = CACHE / f"{kind}-{size}-{upgraders}.json"
    if state.exists() and accounts.world_file(state).exists():
        return state, accounts.World.load(accounts.world_file(state))
    log(f"  building the account: {size:,} {kind} subscribers (kept in {state.relative_to(ROOT)}) …")
    sys.path.insert(0, str(src))
    return state, accounts.build(state, subscribers=size, upgraders=upgraders, cards=kind == "storm", log=log)


# ----- one paywire deployment ------------------------------------------------------------------
class Paywire:
    """A database, `paywire …` commands and `paywire serve` against one stripesim."""

    def __init__(
        self, work: Path, src: Path, db: str, sim: Server, label: str, env: dict[str, str], api_base: str | None = None
    ) -> None:
        self.work, self.src, self.db, self.sim, self.label = work, src, db, sim, label
        self.api_base = api_base or sim.url  # stripesim, or the counting proxy in front of it
        if db == "postgresql":
            self.database = Databases.create(f"bench_storm_{os.getpid()}_{label}")
            self.url = Databases.url(self.database)
        else:
            self.database = str(work / f"{label}.sqlite3")
            self.url = f"sqlite:///{self.database}"
        self.port = free_port()
        self.extra = env
        self.request_log = work / f"{label}-stripe-requests.jsonl"
        self.server: Server | None = None

    def env(self, **more: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "PAYWIRE_", "DATABASE_URL"))}
        return {
            **base,
            "PYTHONPATH": str(self.src),
            "PYTHONDONTWRITEBYTECODE": "1",
            "STRIPE_SECRET_KEY": accounts.PAYWIRE_KEY,
            "STRIPE_API_BASE": self.api_base,
            "DATABASE_URL": self.url,
            "PAYWIRE_AUTH_SECRET": AUTH_SECRET,
            "APP_URL": f"http://127.0.0.1:{self.port}",
            "PAYWIRE_LOG_LEVEL": "WARNING",
            "PAYWIRE_API_RATE_LIMIT": "1000/minute",
            # Every process writes what it sent to Stripe (paywire's side of the peaks).
            "PAYWIRE_STRIPE_REQUEST_LOG": str(self.request_log),
            **self.extra,
            **more,
        }

    def cli(self, *args: str, timeout: float = 7200, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "paywire.cli.main", *args],
            env=self.env(**env),
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def cli_peak(self, *args: str) -> tuple[subprocess.CompletedProcess[str], float | None]:
        """A `paywire …` command and its peak resident set in MB (VmHWM, read until it exits)."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "paywire.cli.main", *args],
            env=self.env(),
            cwd=self.work,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        peak_kb: int | None = None
        out: list[str] = []
        err: list[str] = []
        readers = [
            threading.Thread(target=lambda: out.append(proc.stdout.read() if proc.stdout else ""), daemon=True),
            threading.Thread(target=lambda: err.append(proc.stderr.read() if proc.stderr else ""), daemon=True),
        ]
        for reader in readers:
            reader.start()
        while proc.poll() is None:
            try:
                with open(f"/proc/{proc.pid}/status") as status:
                    for line in status:
                        if line.startswith("VmHWM:"):
                            peak_kb = max(peak_kb or 0, int(line.split()[1]))
            except OSError:
                pass
            time.sleep(0.2)
        for reader in readers:
            reader.join()
        done = subprocess.CompletedProcess(proc.args, proc.returncode, "".join(out), "".join(err))
        return done, (round(peak_kb / 1024, 0) if peak_kb else None)

    def serve(self, secret: str) -> None:
        self.server = Server(
            self.label,
            [sys.executable, "-m", "paywire.cli.main", "serve", "--port", "{port}"],
            env=self.env(STRIPE_WEBHOOK_SECRET=secret),
            cwd=self.work,
            log=self.work / f"{self.label}.log",
            port=self.port,
        )
        self.server.wait_ready("/readyz", timeout=180)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        if self.db == "postgresql":
            with psycopg.connect(self.url.replace("+psycopg", ""), autocommit=True) as conn:
                return list(conn.execute(sql).fetchall())
        with sqlite3.connect(self.database, timeout=60) as conn:
            return list(conn.execute(sql).fetchall())

    def metrics(self) -> dict[str, float]:
        """paywire_stripe_* samples from /metrics (the worker processes' summed in)."""
        assert self.server is not None
        text = httpx.get(f"{self.server.url}/metrics", timeout=30, trust_env=False).text
        found: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith(("paywire_stripe_requests_total", "paywire_stripe_rate_limited_total")):
                name, value = line.rsplit(" ", 1)
                found[name] = float(value)
        return found

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.db == "postgresql":
            Databases.drop(self.database)


def counting_proxy(work: Path, sim: Server, label: str) -> tuple[Server, Path]:
    """The counting proxy (proxy.py) in front of `sim`, in its own process, and its log."""
    log_path = work / f"{label}-proxied.log"
    proxy = Server(
        f"proxy-{label}",
        [sys.executable, str(HERE / "proxy.py"), "--port", "{port}", "--upstream", sim.url, "--log", str(log_path)],
        cwd=work,
        log=work / f"proxy-{label}.log",
    )
    proxy.wait_ready("/_sim/health", timeout=60)
    return proxy, log_path


def proxied_figures(log_path: Path, requests: list[dict[str, Any]], since: float, until: float) -> dict[str, Any]:
    """The peaks of what reached the counting proxy between `since` and `until`, and each
    request's way there from paywire's send (its arrival less its send: the latest send of the
    same method and path before it, in paywire's request log, `requests`)."""
    arrived = [line.split(" ", 2) for line in log_path.read_text().splitlines()] if log_path.exists() else []
    arrived = [(float(t), method, path) for t, method, path in arrived if since <= float(t) <= until]
    sent: dict[tuple[str, str], list[float]] = {}
    for entry in requests:
        sent.setdefault((entry["method"], entry["path"]), []).append(entry["sent"])
    for times in sent.values():
        times.sort()
    ways = []
    for at, method, path in arrived:
        times = sent.get((method, path), [])
        before = bisect.bisect_right(times, at)
        if before:
            ways.append(at - times[before - 1])
    ways.sort()
    return {
        "requests": len(arrived),
        **peaks([t for t, _, _ in arrived], since),
        "way_ms": {
            share: round(1000 * (percentile(ways, q) or 0.0), 1)
            for share, q in (("p1", 0.01), ("p50", 0.5), ("p99", 0.99), ("max", 1.0))
        },
    }


def sim_control(sim: Server, path: str, payload: dict[str, Any]) -> Any:
    response = httpx.post(f"{sim.url}/_sim/{path}", json=payload, timeout=120, trust_env=False)
    response.raise_for_status()
    return response.json()


def sim_get(sim: Server, path: str, **params: Any) -> Any:
    response = httpx.get(f"{sim.url}/_sim/{path}", params=params, timeout=300, trust_env=False)
    response.raise_for_status()
    return response.json()


def stripe_get(sim: Server, path: str, key: str = accounts.BENCH_KEY, **params: Any) -> Any:
    response = httpx.get(
        f"{sim.url}{path}", params=params, headers={"Authorization": f"Bearer {key}"}, timeout=120, trust_env=False
    )
    response.raise_for_status()
    return response.json()


def stripe_post(sim: Server, path: str, params: dict[str, Any], key: str = accounts.BENCH_KEY) -> Any:
    response = httpx.post(
        f"{sim.url}{path}", data=params, headers={"Authorization": f"Bearer {key}"}, timeout=120, trust_env=False
    )
    response.raise_for_status()
    return response.json()


def list_all(sim: Server, path: str, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after = None
    while True:
        page = stripe_get(sim, path, limit=100, **params, **({"starting_after": after} if after else {}))
        found.extend(page["data"])
        if not page["has_more"] or not page["data"]:
            return found
        after = page["data"][-1]["id"]


def wait(what: str, probe: Any, timeout: float, every: float = 1.0) -> float:
    """Seconds until `probe()` is true (raises after `timeout`)."""
    started = time.monotonic()
    while not probe():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: not after {timeout:.0f} s")
        time.sleep(every)
    return time.monotonic() - started


def unix(value: Any) -> float:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    text = str(value).replace("T", " ").removesuffix("Z").split("+")[0]
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def peaks(times: list[float], since: float) -> dict[str, Any]:
    """The most requests in one calendar second, and in any second wherever it starts (when)."""
    times = sorted(times)
    buckets = Counter(int(t) for t in times)
    sliding, sliding_at = max(
        ((bisect.bisect_left(times, start + 1) - i, start) for i, start in enumerate(times)), default=(0, since)
    )
    return {
        "peak_per_second": max(buckets.values(), default=0),
        "peak_any_second": sliding,
        "peak_any_second_at_s": round(sliding_at - since, 1),
    }


def request_figures(sim: Server, key: str, since: float, until: float) -> dict[str, Any]:
    """What `key` sent between `since` and `until`, from stripesim's log (when each arrived)."""
    tail = key[-6:]
    sent = [e for e in sim_get(sim, "requests", since=since)["data"] if e[1] == tail and e[0] <= until]
    return {
        "requests": len(sent),
        "lists": sum(1 for e in sent if e[3] in LISTS),
        "rate_limited": sum(1 for e in sent if e[4] == 429),
        **peaks([e[0] for e in sent], since),
        "by_path": dict(Counter(e[3].split("/")[2] if e[3].startswith("/v1/") else e[3] for e in sent).most_common(8)),
        "list_spans_s": _spans([e for e in sent if e[3] in LISTS]),
    }


def request_log(path: Path) -> list[dict[str, Any]]:
    """paywire's request log (PAYWIRE_STRIPE_REQUEST_LOG): a dict per request it sent."""
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def sent_figures(requests: list[dict[str, Any]], since: float, until: float) -> dict[str, Any]:
    """What paywire's processes say they sent between `since` and `until` (their request log):
    the peaks as they left, and how long after its slot each left."""
    sent = [line for line in requests if since <= line["sent"] <= until]
    late = sorted(line["sent"] - line["slot"] for line in sent if line["slot"] is not None)
    return {
        "requests": len(sent),
        **peaks([line["sent"] for line in sent], since),
        "after_slot_p99_ms": round(1000 * (percentile(late, 0.99) or 0.0), 1),
        "after_slot_max_ms": round(1000 * max(late, default=0.0), 1),
    }


def _spans(sent: list[Any]) -> dict[str, float]:
    """Each list's seconds from its first request to its last (a sync's phases, one by one)."""
    times: dict[str, list[float]] = {}
    for entry in sent:
        times.setdefault(entry[3], []).append(entry[0])
    return {path: round(max(t) - min(t), 1) for path, t in times.items()}


def mirror_differences(pw: Paywire, sim: Server) -> dict[str, int]:
    """Subscriptions and invoices whose mirrored figures differ from Stripe's (0: equal)."""
    subscriptions = {s["id"]: s for s in list_all(sim, "/v1/subscriptions", status="all")}
    invoices = {i["id"]: i for i in list_all(sim, "/v1/invoices")}
    kept_subs = {
        r[0]: r[1:] for r in pw.query("SELECT id, status, latest_invoice_id, current_period_end FROM subscriptions")
    }
    kept_invoices = {r[0]: r[1:] for r in pw.query("SELECT id, status, amount_paid, amount_remaining FROM invoices")}
    wrong_subs = sum(
        1
        for i, s in subscriptions.items()
        if kept_subs.get(i)
        != (s["status"], s["latest_invoice"], min(item["current_period_end"] for item in s["items"]["data"]))
    )
    wrong_invoices = sum(
        1
        for i, v in invoices.items()
        if tuple(kept_invoices.get(i) or ()) != (v["status"], v["amount_paid"], v["amount_remaining"])
    )
    return {
        "subscriptions": len(subscriptions),
        "subscriptions_differing": wrong_subs,
        "invoices": len(invoices),
        "invoices_differing": wrong_invoices,
    }


class Upgrades:
    """One user after another upgrades (basic → pro, now), every `every` seconds, in a thread."""

    def __init__(self, url: str, users: list[str], every: float) -> None:
        self.url, self.users, self.every = url, list(users), every
        self.latencies: list[float] = []
        self.failures: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="upgrades", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(120)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60, trust_env=False) as http:
            for user in self.users:
                if self._stop.wait(self.every):
                    return
                token = jwt.encode({"sub": user, "exp": int(time.time()) + 3600}, AUTH_SECRET, algorithm="HS256")
                started = time.perf_counter()
                try:
                    response = http.post(
                        "/api/subscription/change",
                        json={"plan": "pro", "interval": "month"},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    status = str(response.status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                self.latencies.append(time.perf_counter() - started)
                if status != "200":
                    self.failures[status] += 1


def storm_paywire(opts: Any, work: Path, src: Path, db: str, rule: bool, size: int) -> dict[str, Any]:
    label = f"paywire{'' if rule else '-rule-off'}-{'pg' if db == 'postgresql' else 'sqlite'}"
    state, world = account("storm", size, opts.upgraders, src)
    log(f"- {label}: {size:,} renewals, {len(world.upgraders)} upgraders")
    sim = accounts.start_stripesim(work, src, state, name=f"stripesim-{label}")
    proxy, proxied = counting_proxy(work, sim, label)
    pw = Paywire(
        work, src, db, sim, label, {} if rule else {"PAYWIRE_APPLY_EVENT_PAYLOADS": "false"}, api_base=proxy.url
    )
    row: dict[str, Any] = {"target": label, "renewals": size}
    try:
        out = pw.cli("migrate")
        assert out.returncode == 0, out.stdout + out.stderr
        started = time.monotonic()
        out = pw.cli("sync", "--adopt", "--no-progress", PAYWIRE_STRIPE_RATE_LIMIT="off")
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        log(f"  account adopted into the mirror in {time.monotonic() - started:.0f} s")
        endpoint = stripe_post(
            sim,
            "/v1/webhook_endpoints",
            {"url": f"http://127.0.0.1:{pw.port}/webhooks/stripe", "enabled_events[]": "*"},
        )
        pw.serve(endpoint["secret"])
        wait(
            "the adoption's facts delivered",
            lambda: pw.query("SELECT count(*) FROM outbox WHERE state = 'pending'")[0][0] == 0,
            1800,
            2,
        )
        sim_control(sim, "config", {"rate_limit_per_s": STRIPE_LIMIT})
        before = pw.metrics()
        upgrades = Upgrades(f"http://127.0.0.1:{pw.port}", world.upgraders, opts.upgrade_every)
        t0 = time.time()
        stripe_post(sim, f"/v1/test_helpers/test_clocks/{world.clock}/advance", {"frozen_time": world.renews_at + 7200})
        sync = subprocess.Popen(
            [sys.executable, "-m", "paywire.cli.main", "sync", "--no-progress"],
            env=pw.env(),
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        upgrades.start()
        wait(
            "the clock advanced",
            lambda: stripe_get(sim, f"/v1/test_helpers/test_clocks/{world.clock}")["status"] == "ready",
            opts.timeout,
            2,
        )
        advanced = time.time() - t0
        wait(
            "every delivery made",
            lambda: sim_get(sim, "webhooks/attempts", summary="true")["pending"] == 0,
            opts.timeout,
            1,
        )
        delivered = time.time() - t0
        wait(
            "the inbox worked off",
            lambda: (
                pw.query("SELECT count(*) FROM webhook_events WHERE state IN ('pending', 'processing', 'failed')")[0][0]
                == 0
            ),
            opts.timeout,
            2,
        )
        upgrades.stop()
        sync_seconds = None
        try:
            sync.wait(opts.timeout)
            sync_seconds = time.time() - t0
        except subprocess.TimeoutExpired:
            sync.kill()
        # The storm's reactions (a receipt each, with its request to Stripe) go on beside the
        # mirror: the storm is settled once they are delivered too.
        wait(
            "the storm's facts delivered",
            lambda: pw.query("SELECT count(*) FROM outbox WHERE state = 'pending'")[0][0] == 0,
            opts.timeout,
            1,
        )
        settled = max(unix(pw.query("SELECT max(done_at) FROM outbox")[0][0]) - t0, sync_seconds or 0.0)
        after = pw.metrics()
        since = datetime.fromtimestamp(t0, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        received = pw.query(f"SELECT count(*), max(processed_at) FROM webhook_events WHERE received_at >= '{since}'")[0]
        events, last = int(received[0]), unix(received[1])
        converged = last - t0
        by_type = dict(
            pw.query(
                f"SELECT type, count(*) FROM webhook_events WHERE received_at >= '{since}' GROUP BY type ORDER BY 2"
            )
        )
        sim_control(sim, "config", {"rate_limit_per_s": 0})  # the checks are the bench's, not paywire's
        # Every request the storm caused (the mirror's, the receipts', the upgrades', the sync's),
        # and those made before the mirror converged.
        figures = request_figures(sim, accounts.PAYWIRE_KEY, t0, t0 + settled)
        requests = request_log(pw.request_log)
        sent = sent_figures(requests, t0, t0 + settled)
        at_proxy = proxied_figures(proxied, requests, t0, t0 + settled)
        until_converged = request_figures(sim, accounts.PAYWIRE_KEY, t0, last)["requests"]
        mirror = {
            key.replace("paywire_stripe_requests_total", "requests").replace(
                "paywire_stripe_rate_limited_total", "429"
            ): after[key] - before.get(key, 0.0)
            for key in after
        }
        budget = 20.0
        row.update(
            events=events,
            clock_advanced_s=round(advanced, 1),
            delivered_s=round(delivered, 1),
            converged_s=round(converged, 1),
            requests=figures["requests"],
            requests_per_event=round(figures["requests"] / events, 3) if events else None,
            worker_requests_per_event=round(mirror.get('requests{priority="mirror"}', 0.0) / events, 3)
            if events
            else None,
            peak_per_second=figures["peak_per_second"],
            peak_any_second=figures["peak_any_second"],
            peak_any_second_at_s=figures["peak_any_second_at_s"],
            sent=sent,
            at_proxy=at_proxy,
            rate_limited=figures["rate_limited"],
            convergence_bound_s=round(1.2 * figures["requests"] / budget, 1),
            settled_s=round(settled, 1),
            requests_until_converged=until_converged,
            upgrades=len(upgrades.latencies),
            upgrade_p50_s=round(percentile(upgrades.latencies, 0.5) or 0, 3),
            upgrade_p99_s=round(percentile(upgrades.latencies, 0.99) or 0, 3),
            upgrade_failures=dict(upgrades.failures),
            dead_letters=int(pw.query("SELECT count(*) FROM webhook_events WHERE state = 'dead'")[0][0]),
            sync_during_storm_s=round(sync_seconds, 1) if sync_seconds else None,
            events_by_type=by_type,
            by_priority=mirror,
            by_path=figures["by_path"],
            peak_rss_mb=round(pw.server.peak_rss_mb(), 0) if pw.server else None,
            mirror=mirror_differences(pw, sim),
            load_average=load_average(),
        )
        log(f"  {json.dumps(row)}")
        return row
    finally:
        pw.stop()
        proxy.stop()
        sim.stop()


def storm_djstripe(opts: Any, work: Path, src: Path, size: int) -> dict[str, Any]:
    """The same storm through dj-stripe 2.11: its webhook view processes each event in the
    request, fetching what it names from Stripe (no budget: it meets stripesim's 429s, and
    stripesim retries the deliveries that failed, as Stripe does)."""
    state, world = account("storm", size, opts.upgraders, src)
    label = "djstripe-pg"
    log(f"- {label}: {size:,} renewals")
    python = ensure_djstripe_venv(log)
    sim = accounts.start_stripesim(work, src, state, name=f"stripesim-{label}")
    database = Databases.create(f"bench_storm_{os.getpid()}_djstripe")
    env = {
        "BENCH_DB_NAME": database,
        "STRIPE_API_BASE": sim.url,
        "STRIPE_SECRET_KEY": DJSTRIPE_KEY,
        "DJANGO_SETTINGS_MODULE": "benchsite.settings",
        "PYTHONDONTWRITEBYTECODE": "1",
    }

    def manage(*args: str) -> str:
        out = subprocess.run(
            [str(python), *args],
            cwd=DJSTRIPE_SITE,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if out.returncode != 0:
            raise RuntimeError(f"dj-stripe {args}: {out.stdout[-2000:]}\n{out.stderr[-2000:]}")
        return out.stdout

    row: dict[str, Any] = {"target": label, "renewals": size}
    server: Server | None = None
    try:
        manage("manage.py", "migrate", "-v0")
        endpoint = json.loads(manage("setup_endpoint.py").strip().splitlines()[-1])
        port = free_port()
        for found in stripe_get(sim, "/v1/webhook_endpoints", limit=100)["data"]:
            if found["metadata"].get("djstripe_uuid") == endpoint["uuid"]:
                stripe_post(
                    sim, f"/v1/webhook_endpoints/{found['id']}", {"url": f"http://127.0.0.1:{port}{endpoint['path']}"}
                )
        server = Server(
            label,
            [
                str(python),
                "-m",
                "gunicorn",
                "benchsite.wsgi",
                "--workers",
                "5",
                "--bind",
                "127.0.0.1:{port}",
                "--log-level",
                "warning",
                "--timeout",
                "60",
            ],
            env=env,
            cwd=DJSTRIPE_SITE,
            log=work / f"{label}.log",
            port=port,
        )
        server.wait_ready("/healthz")
        sim_control(
            sim, "config", {"rate_limit_per_s": STRIPE_LIMIT, "webhook_retry_base_s": 5, "webhook_retry_max_s": 60}
        )
        t0 = time.time()
        stripe_post(sim, f"/v1/test_helpers/test_clocks/{world.clock}/advance", {"frozen_time": world.renews_at + 7200})

        def processed() -> int:
            with psycopg.connect(Databases.url(database).replace("+psycopg", ""), autocommit=True) as conn:
                sql = "SELECT count(DISTINCT body::json->>'id') FROM djstripe_webhookeventtrigger WHERE processed"
                return int(conn.execute(sql).fetchone()[0])  # type: ignore[index]

        done = True
        try:
            wait(
                "every delivery made",
                lambda: sim_get(sim, "webhooks/attempts", summary="true")["pending"] == 0,
                opts.djstripe_timeout,
                5,
            )
        except TimeoutError:
            done = False
        ended = time.time()
        deliveries = sim_get(sim, "webhooks/attempts", summary="true")
        figures = request_figures(sim, DJSTRIPE_KEY, t0, ended)
        applied = processed()
        row.update(
            events_applied=applied,
            converged_s=round(ended - t0, 1) if done else None,
            gave_up_after_s=None if done else round(ended - t0, 1),
            requests=figures["requests"],
            requests_per_event=round(figures["requests"] / applied, 3) if applied else None,
            peak_per_second=figures["peak_per_second"],
            rate_limited=figures["rate_limited"],
            by_path=figures["by_path"],
            peak_rss_mb=round(server.peak_rss_mb(), 0),
            deliveries=deliveries,
            load_average=load_average(),
        )
        log(f"  {json.dumps(row)}")
        return row
    finally:
        if server is not None:
            server.stop()
        sim.stop()
        Databases.drop(database)


def sync_phase(opts: Any, work: Path, src: Path, db: str, size: int) -> dict[str, Any]:
    state, _ = account("trials", size, 0, src)
    label = f"sync-{'pg' if db == 'postgresql' else 'sqlite'}"
    log(f"- {label}: {size:,} subscriptions into an empty database")
    sim = accounts.start_stripesim(work, src, state, name=f"stripesim-{label}")
    pw = Paywire(work, src, db, sim, label, {})
    try:
        out = pw.cli("migrate")
        assert out.returncode == 0, out.stdout + out.stderr
        t0 = time.time()
        out, peak_mb = pw.cli_peak("sync", "--adopt", "--no-progress")
        seconds = time.time() - t0
        figures = request_figures(sim, accounts.PAYWIRE_KEY, t0, time.time())
        floor = figures["lists"] / 20.0
        row = {
            "target": label,
            "subscriptions": size,
            "ok": out.returncode == 0,
            "seconds": round(seconds, 1),
            "requests": figures["requests"],
            "pages": figures["lists"],
            "floor_s": round(floor, 1),
            "list_spans_s": figures["list_spans_s"],
            "of_floor": round(seconds / floor, 2) if floor else None,
            "peak_rss_mb": peak_mb,  # the sync command's own (VmHWM)
            "summary": out.stdout.strip().splitlines()[-6:],
            "load_average": load_average(),
        }
        log(f"  {json.dumps(row)}")
        return row
    finally:
        pw.stop()
        sim.stop()


def parse_args(argv: list[str] | None = None) -> Any:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--phases", default="storm,sync")
    p.add_argument("--db", default="postgresql,sqlite")
    p.add_argument("--storm-targets", default="paywire,paywire-rule-off,djstripe")
    p.add_argument("--renewals", type=int, help="the storm's subscribers (default 10,000; quick 1,000)")
    p.add_argument("--rule-off-renewals", type=int, help="paywire with the rule off (default 2,000; quick 500)")
    p.add_argument("--djstripe-renewals", type=int, help="dj-stripe (default 500; quick 200)")
    p.add_argument("--sync-subscriptions", type=int, help="phase 2 (default 100,000; quick 5,000)")
    p.add_argument("--upgraders", type=int, default=300)
    p.add_argument("--upgrade-every", type=float, default=3.0)
    p.add_argument("--timeout", type=float, default=3600)
    p.add_argument("--djstripe-timeout", type=float, default=1200)
    p.add_argument("--no-save", action="store_true")
    opts = p.parse_args(argv)
    opts.renewals = opts.renewals or (1000 if opts.quick else 10_000)
    opts.rule_off_renewals = opts.rule_off_renewals or (500 if opts.quick else 2000)
    opts.djstripe_renewals = opts.djstripe_renewals or (200 if opts.quick else 500)
    opts.sync_subscriptions = opts.sync_subscriptions or (5000 if opts.quick else 100_000)
    return opts


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    install_cleanup()
    dbs = [d for d in opts.db.split(",") if d]
    if "postgresql" in dbs and (why := postgres_reachable()):
        log(f"PostgreSQL unreachable ({why}): SQLite only")
        dbs = [d for d in dbs if d != "postgresql"]
    phases, targets = opts.phases.split(","), opts.storm_targets.split(",")
    work = Path(tempfile.mkdtemp(prefix="bench-storm-"))
    src = ROOT / "src"
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    log(f"storm bench at {commit}, load average {load_average()}, work in {work}")
    rows: list[dict[str, Any]] = []
    try:
        if "storm" in phases:
            for db in dbs:
                if "paywire" in targets:
                    rows.append(storm_paywire(opts, work, src, db, rule=True, size=opts.renewals))
            if "paywire-rule-off" in targets:
                rows.append(storm_paywire(opts, work, src, dbs[0], rule=False, size=opts.rule_off_renewals))
            if "djstripe" in targets and "postgresql" in dbs:
                rows.append(storm_djstripe(opts, work, src, opts.djstripe_renewals))
        if "sync" in phases:
            for db in dbs:
                rows.append(sync_phase(opts, work, src, db, opts.sync_subscriptions))
    finally:
        report = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "commit": commit,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "rows": rows,
        }
        if rows and not opts.no_save:
            RESULTS.mkdir(exist_ok=True)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            (RESULTS / f"{stamp}.json").write_text(json.dumps(report, indent=2))
            log(f"written to {(RESULTS / f'{stamp}.json').relative_to(ROOT)}")
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
