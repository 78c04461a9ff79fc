"""Webhook benchmark: paywire against a floor and dj-stripe 2.11, on the same real events.

    .venv/bin/python bench/webhooks/run.py [--quick] [--targets floor,paywire,djstripe]
        [--db postgresql,sqlite] [--events N] [--concurrency 1,8,32,64] [--rates 50,200,500]

What it does (see README.md beside this file for how to read the report):
1. starts stripesim, pushes paywire's catalog into it, and drives it as a SaaS would
   (customers, Checkout, plan and seat changes, cancellations, one-time passes) until it
   has emitted N events; those events, read back from /v1/events, are what every target
   receives, signed as Stripe signs them;
2. for each target and database, and for each phase (a closed-loop concurrency level, an
   open-loop offered rate), starts the server as a real process on a fresh copy of a
   migrated database, lets a separate load-generator process post the events, waits (for
   paywire) until the worker has applied them, and records acknowledgements, latencies,
   convergence, peak RSS and CPU time;
3. prints the table and writes it as JSON and Markdown to results/<timestamp>.{json,md}.

Nothing here is asserted: it is a report. Everything it starts is stopped and every
database it creates is dropped, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

import events as event_source  # noqa: E402
import report  # noqa: E402
from procs import Server, install_cleanup, load_average, log, percentile, postgres_reachable  # noqa: E402
from targets import TARGETS, Context, DjStripe, Paywire, Running, Target  # noqa: E402

RESULTS = HERE / "results"


# ----- setup ---------------------------------------------------------------------------------
def snapshot_source(work: Path, mode: str) -> tuple[Path, str]:
    """The source paywire and stripesim run from: the committed HEAD (default) or the
    working tree as it is."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    if mode == "worktree":
        return ROOT / "src", f"{commit}+worktree"
    dest = work / "src-head"
    dest.mkdir()
    archive = subprocess.run(["git", "archive", "HEAD", "src"], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest / "src", commit


def start_stripesim(work: Path, src: Path) -> Server:
    sim = Server(
        "stripesim",
        [sys.executable, "-m", "stripesim.cli", "--port", "{port}"],
        env={"PYTHONPATH": str(src), "PYTHONDONTWRITEBYTECODE": "1"},
        log=work / "stripesim.log",
    )
    sim.wait_ready("/_sim/health")
    return sim


def push_catalog(sim_url: str, src: Path, work: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(src),
        "STRIPE_SECRET_KEY": event_source.KEY,
        "STRIPE_API_BASE": sim_url,
        "DATABASE_URL": f"sqlite:///{work / 'catalog.sqlite3'}",
    }
    out = subprocess.run(
        [sys.executable, "-m", "paywire.cli.main", "catalog", "push"],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if out.returncode != 0:
        raise RuntimeError(f"paywire catalog push failed:\n{out.stdout}\n{out.stderr}")


def webhook_secret(sim_url: str) -> str:
    """A real endpoint's signing secret from stripesim (its URL is never called: no event is
    emitted after this point)."""
    client = event_source.client_for(sim_url)
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": "http://127.0.0.1:9/webhooks/stripe", "enabled_events": ["*"]}
    )
    return str(endpoint.secret)


def stripe_subscription_statuses(sim_url: str) -> dict[str, str]:
    client = event_source.client_for(sim_url)
    subs = client.v1.subscriptions.list(params={"status": "all", "limit": 100})
    return {s.id: s.status for s in subs.auto_paging_iter()}


def verification_costs(events_path: Path, secret: str, n: int = 300) -> dict[str, float]:
    """CPU per event of the SDK's ways to check a webhook, on this run's events (ms)."""
    import stripe

    bodies = events_path.read_bytes().splitlines()[:n]
    headers = []
    for body in bodies:
        t = str(int(time.time()))
        digest = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
        headers.append(f"t={t},v1={digest}")
    client = stripe.StripeClient(event_source.KEY)
    ways = {
        "stripe.WebhookSignature.verify_header + json.loads": lambda b, h: (
            stripe.WebhookSignature.verify_header(b.decode(), h, secret, 300),
            json.loads(b),
        ),
        "stripe.Webhook.construct_event": lambda b, h: stripe.Webhook.construct_event(b, h, secret),
        "stripe.Webhook.construct_event + to_dict()": lambda b, h: stripe.Webhook.construct_event(
            b, h, secret
        ).to_dict(),
        "StripeClient.construct_event": lambda b, h: client.construct_event(b, h, secret),
    }
    out = {}
    for name, way in ways.items():
        started = time.process_time()
        for body, header in zip(bodies, headers, strict=True):
            way(body, header)
        out[name] = (time.process_time() - started) / len(bodies) * 1000
    return out


# ----- one phase -------------------------------------------------------------------------------
def run_loadgen(ctx: Context, running: Running, events_path: Path, args: list[str], out: Path) -> dict[str, Any]:
    cmd = [
        sys.executable,
        str(HERE / "loadgen.py"),
        "--url",
        running.url,
        "--secret",
        running.secret,
        "--events",
        str(events_path),
        "--out",
        str(out),
        *args,
    ]
    subprocess.run(cmd, check=True, timeout=1800)
    return json.loads(out.read_text())


def wait_drained(target: Target, running: Running, expected: int, timeout: float) -> float:
    """Wait until the worker has worked off the inbox; returns seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if target.waiting(running) == 0 and (target.stored(running) or 0) >= expected:
                break
        except Exception:
            pass
        time.sleep(0.2)
    return time.monotonic() - started


def stripe_requests(sim_url: str, since: float, measured_events: int) -> dict[str, Any]:
    """The requests the target made to stripesim since its phase began (warm-up included):
    how many, per measured event, and on which resources (from stripesim's request log)."""
    with httpx.Client(timeout=30) as client:
        log = client.get(f"{sim_url}/_sim/requests", params={"since": since}).json()["data"]
    by_path = Counter(e[3].split("/")[2] if e[3].startswith("/v1/") else e[3] for e in log)
    return {
        "total": len(log),
        "per_event": len(log) / max(1, measured_events),
        "by_path": dict(by_path.most_common(6)),
    }


def measure_phase(
    target: Target, ctx: Context, events_path: Path, phase: dict[str, Any], opts: Any, stripe_statuses: dict[str, str]
) -> dict[str, Any]:
    running = target.start()
    sim_cpu0 = ctx.sim.cpu_seconds() if ctx.sim else 0.0
    started = time.time()
    try:
        # Warm-up first, on its own, and (for a target with a worker) worked off before the
        # measured events start: they measure the steady state, not the warm-up's backlog.
        warm_out = ctx.work / f"lg-warmup-{target.name}-{target.db}.json"
        warm = run_loadgen(ctx, running, events_path, ["--count", "0", "--warmup", str(opts.warmup)], warm_out)
        if target.has_mirror:
            wait_drained(target, running, len(warm["warmup_ids"]), opts.drain_timeout)
        cpu0 = running.server.cpu_seconds()
        args = ["--first", str(opts.warmup), "--count", str(phase["count"])]
        if phase["kind"] == "concurrency":
            args += [
                "--concurrency",
                str(phase["value"]),
                "--duration",
                str(opts.sweep_seconds),
                "--min-count",
                str(opts.sweep_min_events),
                "--max-duration",
                str(opts.sweep_max_seconds),
            ]
        else:
            args += ["--rate", str(phase["value"])]
        out = run_loadgen(ctx, running, events_path, args, ctx.work / f"lg-{target.name}-{target.db}.json")
        out["warmup_statuses"], out["warmup_ids"] = warm["warmup_statuses"], warm["warmup_ids"]
        cpu_acks = running.server.cpu_seconds() - cpu0
        results = out["results"]
        ok = [r for r in results if 200 <= r[1] < 300]
        # A delivery answered with an error or not answered in time has no acknowledgement:
        # its latency counts as infinite, so a p99 cannot hide the failures behind it.
        latencies = [r[3] * 1000 for r in ok] + [math.inf] * (len(results) - len(ok))
        statuses: dict[str, int] = {}
        for r in results:
            statuses[str(r[1])] = statuses.get(str(r[1]), 0) + 1
        row: dict[str, Any] = {
            **phase,
            "sent": len(results),
            "ok": len(ok),
            "statuses": statuses,
            "warmup_statuses": sorted(set(out.get("warmup_statuses", []))),
            "elapsed_s": out["elapsed"],
            "ack_per_s": len(ok) / out["elapsed"] if out["elapsed"] else 0.0,
            "ack_p50_ms": percentile(latencies, 0.50),
            "ack_p99_ms": percentile(latencies, 0.99),
            "ack_max_ms": max(latencies) if latencies else None,
            "ack_p99_ms_of_acked": percentile([r[3] * 1000 for r in ok], 0.99),
            "connections": out.get("connections"),
            "server_cpu_ms_per_ack": cpu_acks / len(ok) * 1000 if ok else None,
        }
        if phase["kind"] == "rate":
            row["offered_for_s"] = out.get("offered_for")
        measured = {r[0]: r[2] for r in ok}  # id -> sent (wall clock)
        if target.has_mirror and (phase["kind"] == "rate" or phase.get("drain")):
            expected = len(ok) + len(out.get("warmup_ids", []))
            row["drain_wait_s"] = wait_drained(target, running, expected, opts.drain_timeout)
            states = target.inbox_states(running)
            conv = []
            by_event: list[tuple[float, str, float]] = []
            state_counts: dict[str, int] = {}
            last_done = None
            first = min(measured.values(), default=0.0)
            for event_id, sent in measured.items():
                state, done = states.get(event_id, ("missing", None))
                state_counts[state] = state_counts.get(state, 0) + 1
                if state in ("processed", "ignored") and done is not None:
                    conv.append((done - sent) * 1000)
                    by_event.append(((done - sent) * 1000, event_id, sent - first))
                    last_done = done if last_done is None else max(last_done, done)
            unconverged = len(measured) - len(conv)
            padded = conv + [math.inf] * unconverged
            row.update(
                {
                    "states": state_counts,
                    "converged": len(conv),
                    "conv_p50_ms": percentile(padded, 0.50),
                    "conv_p99_ms": percentile(padded, 0.99),
                    "conv_max_ms": max(padded) if padded else None,
                    # The ten slowest: (ms, event id, seconds into the phase it was due), to
                    # find them in the server's log (--keep-work).
                    "conv_slowest": sorted(by_event, reverse=True)[:10],
                }
            )
            if measured and last_done is not None:
                first_sent = min(measured.values())
                row["converged_per_s"] = len(conv) / max(1e-9, last_done - first_sent)
            if isinstance(target, Paywire):
                row["mirror"] = mirror_check(target.mirror_statuses(running), stripe_statuses)
                row["mirror_rows"] = target.mirror_counts(running)
            row["server_cpu_ms_per_event_total"] = (running.server.cpu_seconds() - cpu0) / max(1, len(ok)) * 1000
        elif target.converges_inline:
            row.update(
                {
                    "converged": len(ok),
                    "conv_p50_ms": row["ack_p50_ms"],
                    "conv_p99_ms": row["ack_p99_ms"],
                    "converged_per_s": row["ack_per_s"],
                }
            )
            if isinstance(target, DjStripe):
                row["triggers"] = target.trigger_outcomes(running)
                row["errors"] = target.errors(running)
                row["failed_types"] = target.failed_types(running)
                if phase.get("drain"):
                    row["mirror"] = mirror_check(target.mirror_statuses(running), stripe_statuses)
        row["stored"] = target.stored(running)
        row["stripesim_cpu_ms_per_event"] = (
            ((ctx.sim.cpu_seconds() if ctx.sim else 0.0) - sim_cpu0) / max(1, len(ok)) * 1000
        )
        row["stripe_requests"] = stripe_requests(ctx.sim_url, started, measured_events=len(ok))
        row["peak_rss_mb"] = running.server.peak_rss_mb()
        row["load_average"] = load_average()
        # PostgreSQL counts a backend's transactions when it flushes its statistics (at the
        # latest when it exits): stop the server first, then read them.
        running.server.stop()
        time.sleep(0.5)
        row["pg"] = target.pg_activity(running)
        return row
    finally:
        target.stop(running)


def mirror_check(mirror: dict[str, str], stripe_statuses: dict[str, str]) -> dict[str, int]:
    """Subscriptions in the mirror whose status equals Stripe's (after the queue drained)."""
    same = sum(1 for sid, status in mirror.items() if stripe_statuses.get(sid) == status)
    return {"rows": len(mirror), "same_as_stripe": same, "different": len(mirror) - same}


def phases_for(opts: Any, pool: int) -> list[dict[str, Any]]:
    usable = pool - opts.warmup
    out = []
    levels = opts.concurrency
    for c in levels:
        out.append({"kind": "concurrency", "value": c, "count": usable, "drain": c == max(levels)})
    for r in opts.rates:
        out.append({"kind": "rate", "value": r, "count": min(usable, int(r * opts.rate_seconds))})
    return out


# ----- main -----------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> Any:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a small run for a smoke check (< 2 minutes)")
    p.add_argument(
        "--targets",
        help="default floor,paywire,paywire-receiver,djstripe (quick: without paywire-receiver, the "
        "diagnostic `paywire serve --no-worker`)",
    )
    p.add_argument("--db", default="postgresql,sqlite")
    p.add_argument("--events", type=int, help="events generated in stripesim (default 6000; quick 600)")
    p.add_argument("--concurrency", help="closed-loop levels (default 1,8,32,64; quick 8,64)")
    p.add_argument("--rates", help="open-loop offered rates, events/s (default 50,200,500; quick 200,500)")
    p.add_argument("--sweep-seconds", type=float, help="cap per concurrency level (default 6; quick 2)")
    p.add_argument("--sweep-min-events", type=int, help="each level sends at least this many (default 400; quick 100)")
    p.add_argument("--sweep-max-seconds", type=float, help="… but never for longer (default 40 s; quick 10)")
    p.add_argument("--rate-seconds", type=float, help="length of each offered-rate phase (default 10; quick 1)")
    p.add_argument("--drain-timeout", type=float, help="wait for paywire's worker (default 180 s; quick 30)")
    p.add_argument("--djstripe-workers", type=int, default=5, help="gunicorn sync workers (2 x cores + 1)")
    p.add_argument(
        "--paywire-source",
        choices=("head", "worktree"),
        default="head",
        help="run paywire/stripesim from the committed HEAD (default) or the working tree",
    )
    p.add_argument(
        "--paywire-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for paywire's processes, e.g. PAYWIRE_WORKER_NICE=0 (repeatable)",
    )
    p.add_argument("--no-save", action="store_true", help="print only; write nothing to results/")
    p.add_argument("--keep-work", action="store_true", help="keep the work folder (servers' logs) and print its path")
    opts = p.parse_args(argv)
    q = opts.quick
    opts.events = opts.events or (600 if q else 6000)
    opts.concurrency = [int(x) for x in (opts.concurrency or ("8,64" if q else "1,8,32,64")).split(",")]
    opts.rates = [float(x) for x in (opts.rates or ("200,500" if q else "50,200,500")).split(",")]
    opts.sweep_seconds = opts.sweep_seconds or (2.0 if q else 6.0)
    opts.rate_seconds = opts.rate_seconds or (1.0 if q else 10.0)
    opts.sweep_min_events = opts.sweep_min_events or (60 if q else 400)
    opts.sweep_max_seconds = opts.sweep_max_seconds or (10.0 if q else 40.0)
    opts.drain_timeout = opts.drain_timeout or (30.0 if q else 180.0)
    opts.warmup = min(100, opts.events // 10)
    opts.targets = opts.targets or ("floor,paywire,djstripe" if q else "floor,paywire,paywire-receiver,djstripe")
    opts.targets = [t.strip() for t in opts.targets.split(",") if t.strip()]
    opts.db = [d.strip() for d in opts.db.split(",") if d.strip()]
    for item in opts.paywire_env:
        if "=" not in item:
            p.error(f"--paywire-env wants NAME=VALUE, not {item!r}")
    opts.paywire_env = dict(item.split("=", 1) for item in opts.paywire_env)
    for t in opts.targets:
        if t not in TARGETS:
            p.error(f"unknown target {t!r} ({', '.join(TARGETS)})")
    for d in opts.db:
        if d not in ("postgresql", "sqlite"):
            p.error(f"unknown database {d!r} (postgresql, sqlite)")
    return opts


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    install_cleanup()
    started_at = datetime.now(UTC)
    host = machine()
    run_id = started_at.strftime("%H%M%S") + f"{os.getpid() % 1000:03d}"
    work = Path(tempfile.mkdtemp(prefix="paywire-bench-webhooks-"))
    notes: list[str] = []
    try:
        if "postgresql" in opts.db or "djstripe" in opts.targets:
            why = postgres_reachable()
            if why:
                log(f"PostgreSQL is not reachable at 127.0.0.1:5432 ({why}); PostgreSQL runs skipped")
                notes.append(f"PostgreSQL unreachable: {why}")
                opts.db = [d for d in opts.db if d != "postgresql"]
                opts.targets = [t for t in opts.targets if t != "djstripe"]
        src, commit = snapshot_source(work, opts.paywire_source)
        log(f"paywire/stripesim source: {opts.paywire_source} ({commit}); load average {load_average()}")
        sim = start_stripesim(work, src)
        push_catalog(sim.url, src, work)
        log(f"generating {opts.events} events in stripesim ({sim.url}) …")
        t0 = time.monotonic()
        pool = event_source.generate(sim.url, opts.events, log=log)
        generation_s = time.monotonic() - t0
        events_path = work / "events.jsonl"
        event_source.save(pool, events_path)
        stripe_statuses = stripe_subscription_statuses(sim.url)
        secret = webhook_secret(sim.url)
        ctx = Context(
            run_id=run_id,
            work=work,
            python=sys.executable,
            paywire_src=src,
            sim_url=sim.url,
            api_key=event_source.KEY,
            webhook_secret=secret,
            djstripe_workers=opts.djstripe_workers,
            paywire_env=opts.paywire_env,
            log=log,
            sim=sim,
        )
        costs = verification_costs(events_path, secret)
        phases = phases_for(opts, len(pool))
        rows: list[dict[str, Any]] = []
        for db in opts.db:
            for name in opts.targets:
                if name == "djstripe" and db != "postgresql":
                    continue
                try:
                    target = TARGETS[name](ctx, db)
                    log(f"\n{target.label}: preparing the template database …")
                    target.prepare()
                except Exception as exc:
                    log(f"{name}/{db}: cannot be measured: {exc}")
                    notes.append(f"{name}/{db} not measured: {str(exc)[:2000]}")
                    continue
                try:
                    for phase in phases:
                        what = f"{phase['value']:g} {'connections' if phase['kind'] == 'concurrency' else 'events/s'}"
                        try:
                            row = measure_phase(target, ctx, events_path, phase, opts, stripe_statuses)
                        except Exception as exc:
                            log(f"  {target.label} {what}: failed: {exc}")
                            notes.append(f"{target.label} {what} failed: {str(exc)[:2000]}")
                            continue
                        row.update({"target": name, "db": db})
                        rows.append(row)
                        log("  " + report.phase_line(row))
                finally:
                    target.finish()
        sim.stop()
        result = {
            "started_at": started_at.isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "machine": host,
            "paywire_commit": commit,
            "paywire_source": opts.paywire_source,
            "options": {k: v for k, v in vars(opts).items()},
            "events": {
                "count": len(pool),
                "types": dict(event_source.type_counts(pool).most_common()),
                "mean_bytes": sum(len(json.dumps(e)) for e in pool) / max(1, len(pool)),
                "generation_s": generation_s,
            },
            "verification_ms_per_event": costs,
            "rows": rows,
            "notes": notes,
        }
        text = report.markdown(result)
        print("\n" + text)
        if not opts.no_save:
            RESULTS.mkdir(exist_ok=True)
            stamp = started_at.strftime("%Y%m%dT%H%M%SZ")
            (RESULTS / f"{stamp}.json").write_text(json.dumps(result, indent=1, default=str))
            (RESULTS / f"{stamp}.md").write_text(text)
            log(f"written: {RESULTS.relative_to(ROOT)}/{stamp}.{{json,md}}")
        return 0
    finally:
        from procs import cleanup

        cleanup()
        if opts.keep_work:
            log(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_average_at_start": load_average(),
    }


if __name__ == "__main__":
    sys.exit(main())
