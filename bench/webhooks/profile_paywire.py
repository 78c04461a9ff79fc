"""Where paywire's time goes under webhook load: py-spy on a real `paywire serve`.

    .venv/bin/python bench/webhooks/profile_paywire.py [--db postgresql|sqlite]
        [--no-worker] [--concurrency 32] [--events 3000] [--seconds 15]

Starts stripesim and paywire as run.py does, posts the events closed-loop, and samples the
server with py-spy (installed on first use into bench/webhooks/.venv-tools, never into the
project's environment; py-spy needs ptrace, i.e. root or CAP_SYS_PTRACE). Prints the
functions with the most samples, inclusive and own, and keeps the raw collapsed stacks
(speedscope/flamegraph input) in results/profile-<db>-<mode>.txt.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import events as event_source  # noqa: E402
import run  # noqa: E402
from procs import cleanup, install_cleanup  # noqa: E402
from targets import Context, Paywire  # noqa: E402

TOOLS = HERE / ".venv-tools"


def py_spy() -> Path:
    exe = TOOLS / "bin" / "py-spy"
    if not exe.exists():
        subprocess.run(["python3", "-m", "venv", str(TOOLS)], check=True)
        subprocess.run([str(TOOLS / "bin" / "pip"), "install", "-q", "py-spy"], check=True)
    return exe


def summarize(raw: Path, top: int = 25) -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    out = [f"{total} samples", "", "inclusive:"]
    out += [f"  {n / total:6.1%}  {f}" for f, n in inclusive.most_common(top)]
    out += ["", "own:"]
    out += [f"  {n / total:6.1%}  {f}" for f, n in own.most_common(top)]
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--db", default="postgresql")
    p.add_argument("--no-worker", action="store_true")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--events", type=int, default=3000)
    p.add_argument("--seconds", type=float, default=15)
    p.add_argument("--rate", type=float, help="open loop at this rate instead of closed loop")
    p.add_argument("--gil", action="store_true", help="sample only the thread holding the GIL")
    p.add_argument("--paywire-source", choices=("head", "worktree"), default="head")
    args = p.parse_args()
    install_cleanup()
    spy = py_spy()
    work = Path(tempfile.mkdtemp(prefix="paywire-profile-"))
    try:
        src, commit = run.snapshot_source(work, args.paywire_source)
        sim = run.start_stripesim(work, src)
        run.push_catalog(sim.url, src, work)
        pool = event_source.generate(sim.url, args.events, log=lambda *_: None)
        events_path = work / "events.jsonl"
        event_source.save(pool, events_path)
        ctx = Context(
            run_id=f"prof{int(time.time()) % 100000}",
            work=work,
            python=sys.executable,
            paywire_src=src,
            sim_url=sim.url,
            api_key=event_source.KEY,
            webhook_secret=run.webhook_secret(sim.url),
            sim=sim,
        )
        target = Paywire(ctx, args.db)
        target.prepare()
        running = target.start(with_worker=not args.no_worker)
        mode = "receiver" if args.no_worker else "full"
        raw = work / "stacks.txt"
        spy_proc = subprocess.Popen(
            [
                str(spy),
                "record",
                "--pid",
                str(running.server.proc.pid),
                # The worker runs in a child process of `paywire serve`.
                "--subprocesses",
                "--format",
                "raw",
                "--rate",
                "250",
                "--duration",
                str(int(args.seconds)),
                "--output",
                str(raw),
                *(["--gil"] if args.gil else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        load = ["--count", str(len(pool)), "--duration", str(args.seconds)]
        load += ["--rate", str(args.rate)] if args.rate else ["--concurrency", str(args.concurrency)]
        out = run.run_loadgen(ctx, running, events_path, load, work / "lg.json")
        ok = sum(1 for r in out["results"] if 200 <= r[1] < 300)
        spy_proc.wait(timeout=args.seconds + 60)
        print(
            f"paywire {commit} on {args.db}, {mode}: {ok} acked in {out['elapsed']:.1f} s "
            f"({ok / out['elapsed']:.0f}/s), server CPU {running.server.cpu_seconds():.1f} s"
        )
        if raw.exists():
            (HERE / "results").mkdir(exist_ok=True)
            keep = HERE / "results" / f"profile-{args.db}-{mode}.txt"
            keep.write_text(raw.read_text())
            print(summarize(raw))
            print(f"\nraw stacks: {keep.relative_to(HERE.parent.parent)}")
        target.stop(running)
        target.finish()
    finally:
        cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
