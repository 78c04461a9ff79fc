"""Worker throughput against the number of `paywire worker` processes on one database.

    .venv/bin/python bench/webhooks/workers.py [--db postgresql,sqlite] [--events 3000]
        [--workers 1,2,4] [--rates 200,500] [--rate-seconds 10] [--paywire-source worktree|head]

The receiver is left out on purpose (run.py measures it): this is the worker alone, the
part that re-reads from Stripe and writes the mirror. For each database and each N:
1. a fresh copy of a migrated database; N `paywire worker` processes started, idle;
2. **drain**: all events stored in the inbox at once (as the receiver stores them, same
   rows), then the time until the last is processed: events/s = events / (last
   `processed_at` - the insert);
3. **rates**: a fresh database again, events stored at a fixed rate in 20 ms ticks while
   the N workers run; convergence = `processed_at` - `received_at`, p50 / p99.
Checks: every event processed or ignored, each exactly once (`attempts` = 1), the mirror's
subscriptions against stripesim's statuses; CPU of the workers and of stripesim per event.
Printed, and written to results/workers-<timestamp>.md unless --no-save. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import events as event_source  # noqa: E402
from procs import Server, install_cleanup, load_average, log, percentile, postgres_reachable  # noqa: E402
from run import push_catalog, snapshot_source, start_stripesim, stripe_subscription_statuses  # noqa: E402
from targets import Context, Paywire, _query  # noqa: E402

RESULTS = HERE / "results"
TICK = 0.02


class Inbox:
    """Stores events as the receiver does (paywire's own `store_many`), from this process."""

    def __init__(self, url: str, src: Path) -> None:
        sys.path.insert(0, str(src))
        from paywire.db.engine import make_engine, make_session_factory

        try:
            from paywire.events import store
        except ImportError:  # an older paywire (--paywire-commit): storing lived in the inbox
            from paywire.events import inbox as store  # type: ignore[no-redef]
        self.store = store
        self.engine = make_engine(url)
        self.sessions = make_session_factory(self.engine)

    def put(self, bodies: list[tuple[str, dict[str, Any]]]) -> float:
        """Store the events now, in one transaction; returns the time they were stored."""
        rows = [self.store.new_event(raw, event, expected_livemode=False) for raw, event in bodies]
        now = datetime.now(UTC)
        with self.sessions() as session:
            for row in rows:
                self.store.store(session, row, now)
            session.commit()
        return now.timestamp()

    def close(self) -> None:
        self.engine.dispose()


def snapshot_commit(work: Path, commit: str, current: Path) -> tuple[Path, str]:
    """paywire's `src/paywire` as of `commit` beside the current stripesim (stripesim only
    improves; the events and the simulator stay the same for both measurements)."""
    import shutil
    import subprocess

    dest = work / f"src-{commit}"
    dest.mkdir()
    archive = subprocess.run(
        ["git", "archive", commit, "src/paywire"], cwd=HERE.parent.parent, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    shutil.copytree(current / "stripesim", dest / "src" / "stripesim")
    return dest / "src", commit


def start_workers(target: Paywire, database: str, n: int, work: Path) -> list[Server]:
    env = {**target.env(database), "PAYWIRE_RECOVERY_INTERVAL": "0", "PAYWIRE_WORKER_POLL_INTERVAL": "0.05"}
    workers = []
    for i in range(n):
        log_path = work / f"worker-{database.rsplit('/', 1)[-1]}-{i}.log"
        workers.append(Server(f"worker{i}", target.cli("worker"), env=env, cwd=work, log=log_path, port=0))
    # Started once each has connected: its first claim happens right after its imports.
    time.sleep(3.0)
    for worker in workers:
        if worker.proc.poll() is not None:
            raise RuntimeError(f"worker exited: {worker.tail()}")
    return workers


def inbox_rows(target: Paywire, database: str) -> list[tuple[Any, ...]]:
    return _query(target, database, "SELECT id, state, attempts, received_at, processed_at FROM webhook_events")


def wait_drained(target: Paywire, database: str, expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = _query(
            target,
            database,
            "SELECT count(*) FROM webhook_events WHERE state IN ('processed', 'ignored', 'dead')",
        )
        if int(rows[0][0]) >= expected:
            return
        time.sleep(0.1)
    raise RuntimeError(f"not drained within {timeout}s")


def unix(value: Any) -> float:
    from targets import _unix

    found = _unix(value)
    assert found is not None
    return found


def checks(target: Paywire, database: str, statuses: dict[str, str]) -> dict[str, Any]:
    rows = inbox_rows(target, database)
    states: dict[str, int] = {}
    for _, state, _, _, _ in rows:
        states[state] = states.get(state, 0) + 1
    mirror = dict(_query(target, database, "SELECT id, status FROM subscriptions"))
    same = sum(1 for k, v in mirror.items() if statuses.get(k) == v)
    return {
        "states": states,
        "attempts_above_1": sum(1 for r in rows if r[2] != 1),
        "mirror": f"{same}/{len(mirror)} subscriptions as in stripesim",
    }


def cpu(servers: list[Server]) -> float:
    return sum(s.cpu_seconds() for s in servers)


def profile_start(pid: int, out: Path) -> Any:
    """py-spy on a worker process (installed by profile_paywire.py into .venv-tools)."""
    import subprocess

    spy = HERE / ".venv-tools" / "bin" / "py-spy"
    if not spy.exists():
        raise RuntimeError("py-spy missing: run bench/webhooks/profile_paywire.py once to install it")
    return subprocess.Popen(
        [str(spy), "record", "--pid", str(pid), "--rate", "250", "--format", "raw", "--output", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def profile_summary(path: Path, top: int = 45) -> str:
    """The hottest frames (inclusive share of the worker's samples)."""
    inclusive: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if "run_once" not in stack and "react" not in stack:
            continue
        total += int(count)
        for frame in {f.split(" (")[0] for f in stack.split(";")}:
            inclusive[frame] = inclusive.get(frame, 0) + int(count)
    best = sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]
    return "\n".join(f"{n / max(1, total) * 100:5.1f}%  {frame}" for frame, n in best)


def drain_phase(
    target: Paywire,
    ctx: Context,
    n: int,
    bodies: list[tuple[str, dict[str, Any]]],
    statuses: dict[str, str],
    timeout: float,
    profile: Path | None = None,
) -> dict[str, Any]:
    database = target.clone()
    workers = start_workers(target, database, n, ctx.work)
    inbox = Inbox(target.url_of(database), ctx.paywire_src)
    spy = profile_start(workers[0].proc.pid, profile) if profile else None
    try:
        cpu0, sim0 = cpu(workers), ctx.sim.cpu_seconds()
        stored_at = inbox.put(bodies)
        wait_drained(target, database, len(bodies), timeout)
        if spy is not None and profile is not None:
            import signal

            spy.send_signal(signal.SIGINT)
            spy.wait(30)
            log(f"profile of worker 0 ({profile}):\n{profile_summary(profile)}")
        rows = inbox_rows(target, database)
        last = max(unix(r[4]) for r in rows if r[4] is not None)
        elapsed = last - stored_at
        result = {
            "workers": n,
            "events": len(bodies),
            "seconds": elapsed,
            "events_per_s": len(bodies) / elapsed,
            "worker_cpu_ms_per_event": (cpu(workers) - cpu0) / len(bodies) * 1000,
            "stripesim_cpu_ms_per_event": (ctx.sim.cpu_seconds() - sim0) / len(bodies) * 1000,
            **checks(target, database, statuses),
            "load": load_average(),
        }
    finally:
        inbox.close()
        for worker in workers:
            worker.stop()
        target.drop(database)
    return result


def rate_phase(
    target: Paywire,
    ctx: Context,
    n: int,
    bodies: list[tuple[str, dict[str, Any]]],
    rate: float,
    seconds: float,
    timeout: float,
) -> dict[str, Any]:
    database = target.clone()
    workers = start_workers(target, database, n, ctx.work)
    inbox = Inbox(target.url_of(database), ctx.paywire_src)
    count = min(len(bodies), int(rate * seconds))
    try:
        started = time.monotonic()
        sent = 0
        while sent < count:
            due = min(count, int((time.monotonic() - started) * rate) + 1)
            if due > sent:
                inbox.put(bodies[sent:due])
                sent = due
            time.sleep(TICK)
        wait_drained(target, database, count, timeout)
        rows = inbox_rows(target, database)
        lags = [(unix(r[4]) - unix(r[3])) * 1000 for r in rows if r[4] is not None]
        result = {
            "workers": n,
            "rate": rate,
            "events": count,
            "p50_ms": percentile(lags, 0.5),
            "p99_ms": percentile(lags, 0.99),
            "max_ms": max(lags) if lags else None,
            "load": load_average(),
        }
    finally:
        inbox.close()
        for worker in workers:
            worker.stop()
        target.drop(database)
    return result


def markdown(meta: dict[str, Any], drains: list[dict[str, Any]], rates: list[dict[str, Any]]) -> str:
    lines = [
        f"# Worker benchmark — {meta['started_at']}",
        "",
        f"Machine: {meta['machine']}; load average at start {meta['load']}. paywire at `{meta['commit']}`. "
        f"Command: `{meta['command']}`. Events: {meta['events']} real stripesim events, stored straight into the "
        "inbox (no receiver), the same for every row.",
        "",
        "## Drain: a backlog worked off by N worker processes",
        "",
        "| db | workers | events/s | seconds | worker CPU ms/event | stripesim CPU ms/event | inbox | attempts > 1 "
        "| mirror | load |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in drains:
        lines.append(
            f"| {r['db']} | {r['workers']} | **{r['events_per_s']:,.0f}** | {r['seconds']:.1f} | "
            f"{r['worker_cpu_ms_per_event']:.2f} | {r['stripesim_cpu_ms_per_event']:.2f} | {r['states']} | "
            f"{r['attempts_above_1']} | {r['mirror']} | {r['load']} |"
        )
    lines += [
        "",
        "## Convergence at a fixed rate (ms from stored to processed)",
        "",
        "| db | workers | rate (events/s) | events | p50 | p99 | max | load |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rates:
        lines.append(
            f"| {r['db']} | {r['workers']} | {r['rate']:g} | {r['events']} | {r['p50_ms']:,.0f} | "
            f"**{r['p99_ms']:,.0f}** | {r['max_ms']:,.0f} | {r['load']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db", default="postgresql", type=lambda s: s.split(","))
    p.add_argument("--events", type=int, default=3000)
    p.add_argument("--workers", default=[1, 2, 4], type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--rates", default=[200.0, 500.0], type=lambda s: [float(x) for x in s.split(",") if x])
    p.add_argument(
        "--rate-workers",
        type=lambda s: [int(x) for x in s.split(",")],
        help="worker counts for the rate phases (default: the smallest and largest of --workers)",
    )
    p.add_argument("--rate-seconds", type=float, default=10.0)
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--paywire-source", choices=("head", "worktree"), default="worktree")
    p.add_argument("--paywire-commit", help="measure paywire as of this commit instead (for before/after figures)")
    p.add_argument("--no-save", action="store_true")
    p.add_argument("--profile", action="store_true", help="py-spy on the first worker of each drain with N=1")
    opts = p.parse_args(argv)
    install_cleanup()
    started_at = datetime.now(UTC)
    work = Path(tempfile.mkdtemp(prefix="paywire-bench-workers-"))
    if "postgresql" in opts.db and postgres_reachable():
        log("PostgreSQL unreachable: SQLite only")
        opts.db = [d for d in opts.db if d != "postgresql"]
    src, commit = snapshot_source(work, opts.paywire_source)
    if opts.paywire_commit:
        src, commit = snapshot_commit(work, opts.paywire_commit, src)
    load = load_average()
    sim = start_stripesim(work, src)
    push_catalog(sim.url, src, work)
    log(f"generating {opts.events} events in stripesim …")
    pool = event_source.generate(sim.url, opts.events, log=log)
    import json

    bodies = [(json.dumps(e, separators=(",", ":")), e) for e in pool]
    statuses = stripe_subscription_statuses(sim.url)
    ctx = Context(
        run_id=started_at.strftime("%H%M%S") + "w",
        work=work,
        python=sys.executable,
        paywire_src=src,
        sim_url=sim.url,
        api_key=event_source.KEY,
        webhook_secret="whsec_unused",
        djstripe_workers=0,
        log=log,
        sim=sim,
    )
    drains: list[dict[str, Any]] = []
    rates: list[dict[str, Any]] = []
    rate_workers = opts.rate_workers or sorted({min(opts.workers), max(opts.workers)})
    for db in opts.db:
        target = Paywire(ctx, db)
        target.prepare()
        try:
            for n in opts.workers:
                profile = RESULTS / f"profile-worker-{db}.txt" if opts.profile and n == 1 else None
                row = {"db": db, **drain_phase(target, ctx, n, bodies, statuses, opts.timeout, profile)}
                log(f"  drain {db} N={n}: {row['events_per_s']:,.0f} events/s ({row})")
                drains.append(row)
            for n in rate_workers:
                for rate in opts.rates:
                    row = {"db": db, **rate_phase(target, ctx, n, bodies, rate, opts.rate_seconds, opts.timeout)}
                    log(f"  rate {db} N={n} {rate:g}/s: p50 {row['p50_ms']:.0f} ms, p99 {row['p99_ms']:.0f} ms")
                    rates.append(row)
        finally:
            target.finish()
    sim.stop()
    import platform

    meta = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "machine": f"{__import__('os').cpu_count()} cores, Python {platform.python_version()}",
        "load": load,
        "commit": commit,
        "command": " ".join(["python", *sys.argv]),
        "events": len(pool),
    }
    text = markdown(meta, drains, rates)
    print("\n" + text)
    if not opts.no_save:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"workers-{started_at.strftime('%Y%m%dT%H%M%SZ')}.md"
        path.write_text(text)
        log(f"written: {path.relative_to(HERE.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
