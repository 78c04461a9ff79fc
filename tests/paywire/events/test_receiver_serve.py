"""`paywire serve` as real processes: where the worker runs (a niced child process by
default, or a thread), `--workers N` server processes, and how each is woken and stopped."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import stripe

from paywire.config import load_settings
from paywire.db.migrate import upgrade_to_head
from paywire.events.wakeup import WorkersBell
from paywire.workers import worker_processes, worker_threads
from tests.paywire.events.conftest import WORKER_STARTED, wait_for
from tests.support.processes import free_port, wait_http
from tests.support.stripesim import TEST_KEY, Sim

PAYWIRE = [sys.executable, "-m", "paywire.cli.main"]
SECRET = "whsec_serve_processes"


def _env(database: str, sim: Sim, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "PAYWIRE_"))}
    env.update(
        STRIPE_SECRET_KEY=TEST_KEY,
        STRIPE_API_BASE=sim.url,
        DATABASE_URL=database,
        STRIPE_WEBHOOK_SECRET=SECRET,
        PAYWIRE_AUTH_SECRET="s" * 40,
        # Polling alone would take this long (the most allowed): an answer well before it
        # proves the wake-up works.
        PAYWIRE_WORKER_POLL_INTERVAL="60",
        **values,
    )
    return env


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            listed = Path(f"/proc/{pid}/task/{task}/children").read_text()
        except FileNotFoundError:  # the thread ended since the listing: it has no children now
            continue
        found.extend(int(c) for c in listed.split())
    return found


def _command(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")


def _nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def _deliver(port: int, event_id: str) -> httpx.Response:
    payload = json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": "paywire.test.serve",
            "created": int(time.time()),
            "livemode": False,
            "api_version": stripe.api_version,
            "data": {"object": {"id": f"obj_{event_id}", "object": "thing"}},
        }
    ).encode()
    signature = stripe.WebhookSignature.generate_signature_header(payload.decode(), SECRET)
    return httpx.post(
        f"http://127.0.0.1:{port}/webhooks/stripe",
        content=payload,
        headers={"stripe-signature": signature},
        trust_env=False,
    )


def _states(database: Path) -> dict[str, str]:
    with sqlite3.connect(database) as conn:
        return dict(conn.execute("SELECT id, state FROM webhook_events").fetchall())


def _wait_worked_off(database: Path, ids: list[str], timeout: float = 45) -> dict[str, str]:
    """Wait until the events are worked off: well before the workers' next 60 s poll, so only a
    wake-up from the receiver can have done it (a niced worker on a loaded machine may need
    seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = _states(database)
        if all(states.get(i) == "ignored" for i in ids):
            return states
        time.sleep(0.05)
    raise AssertionError(f"not worked off within {timeout}s: {_states(database)}")


class Serving:
    def __init__(self, args: list[str], tmp_path: Path, sim: Sim, **env: str) -> None:
        self.database = tmp_path / "serve.sqlite3"
        upgrade_to_head(f"sqlite:///{self.database}")
        self.port = free_port()
        self.log = tmp_path / "serve.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [*PAYWIRE, "serve", "--port", str(self.port), *args],
                env=_env(f"sqlite:///{self.database}", sim, **env),
                cwd=tmp_path,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        # Several processes each import the whole stack before the port answers: on a busy
        # machine that takes a while, so the deadline is generous (it only bounds a failure).
        try:
            wait_http(f"http://127.0.0.1:{self.port}/healthz", proc=self.proc, timeout=180)
        except RuntimeError as exc:
            self.proc.kill()
            raise RuntimeError(f"{exc}; its output:\n{self.output()[-3000:]}") from exc

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(30)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def started() -> Iterator[list[Serving]]:
    """Servers a test started, killed at the end if the test did not stop them."""
    running: list[Serving] = []
    yield running
    for serving in running:
        if serving.proc.poll() is None:
            serving.proc.kill()
            serving.proc.wait(10)


def _wait_for_worker(serving: Serving, timeout: float = 60) -> list[int]:
    """The server's child processes once the worker has started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if WORKER_STARTED.search(serving.output()):
            return _children(serving.proc.pid)
        time.sleep(0.1)
    raise AssertionError(f"the worker never started:\n{serving.output()}")


def test_serve_runs_the_worker_in_a_niced_child_process_woken_by_the_receiver(
    sim: Sim, tmp_path: Path, started: list[Serving]
) -> None:
    serving = Serving([], tmp_path, sim, PAYWIRE_LOG_LEVEL="INFO")
    started.append(serving)
    children = _wait_for_worker(serving)
    workers = [pid for pid in children if "spawn_main" in _command(pid)]
    assert len(workers) == 1, [_command(pid) for pid in children]
    [worker] = workers
    # Niceness adds up to at most 19 (the test run itself may be niced).
    assert _nice(worker) == min(_nice(serving.proc.pid) + 10, 19), "the worker yields the CPU to the receiver"

    assert _deliver(serving.port, "evt_serve_1").json() == {"received": True}
    _wait_worked_off(serving.database, ["evt_serve_1"])  # woken, not at the next 60 s poll

    assert serving.stop(signal.SIGTERM) == 0, serving.output()
    assert not Path(f"/proc/{worker}").exists() or "spawn_main" not in _command(worker)
    assert "stopped" in serving.output()


def test_serve_with_the_worker_in_a_thread_is_one_process(sim: Sim, tmp_path: Path, started: list[Serving]) -> None:
    serving = Serving([], tmp_path, sim, PAYWIRE_WORKER_MODE="thread", PAYWIRE_LOG_LEVEL="INFO")
    started.append(serving)
    _wait_for_worker(serving)
    assert not [pid for pid in _children(serving.proc.pid) if "spawn_main" in _command(pid)]

    assert _deliver(serving.port, "evt_thread_1").status_code == 200
    _wait_worked_off(serving.database, ["evt_thread_1"])
    assert serving.stop(signal.SIGINT) == 0, serving.output()


SLOW_START_SECONDS = 12


def _slow_starting_children(tmp_path: Path) -> str:
    """A PYTHONPATH whose sitecustomize makes every process that multiprocessing spawns sleep
    before it runs anything, as a loaded machine slows their start. uvicorn's supervisor pings
    its processes in turn, each given its default 5 s: two that need over 11 s to answer would
    be killed and replaced forever."""
    folder = tmp_path / "slow_start"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(
        f"import sys, time\nif '--multiprocessing-fork' in sys.argv:\n    time.sleep({SLOW_START_SECONDS})\n"
    )
    return os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))


def test_serve_with_several_server_processes_shares_the_port_and_one_worker(
    sim: Sim, tmp_path: Path, started: list[Serving]
) -> None:
    """Even when each server process takes longer to start than uvicorn's own liveness timeout
    (its supervisor would kill and replace them forever: the port would never answer)."""
    serving = Serving(
        ["--workers", "2"], tmp_path, sim, PAYWIRE_LOG_LEVEL="INFO", PYTHONPATH=_slow_starting_children(tmp_path)
    )
    started.append(serving)
    assert "2 server processes" in serving.output()
    _wait_for_worker(serving)

    ids = [f"evt_multi_{n}" for n in range(20)]
    answers = [_deliver(serving.port, event_id) for event_id in ids]
    again = _deliver(serving.port, ids[0])

    assert [a.json() for a in answers] == [{"received": True}] * 20
    assert again.json() == {"received": True, "duplicate": True}
    _wait_worked_off(serving.database, ids)
    assert serving.stop(signal.SIGTERM) == 0, serving.output()


def test_serve_refuses_zero_server_processes(sim: Sim, tmp_path: Path) -> None:
    out = subprocess.run(
        [*PAYWIRE, "serve", "--workers", "0"],
        env=_env(f"sqlite:///{tmp_path}/x.sqlite3", sim),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "--workers" in out.stderr


@pytest.mark.parametrize(
    ("url", "setting", "expected"),
    [
        ("sqlite:///paywire.sqlite3", None, 1),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/x", None, 1),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/x", "2", 2),
        ("sqlite:///paywire.sqlite3", "3", 3),
    ],
)
def test_the_worker_process_runs_one_worker_unless_told_otherwise(url: str, setting: str | None, expected: int) -> None:
    overrides = {"PAYWIRE_WORKER_THREADS": setting} if setting else {}
    settings = load_settings(_env_file=None, DATABASE_URL=url, **overrides)

    assert worker_threads(settings) == expected


@pytest.mark.parametrize(
    ("url", "setting", "expected"),
    [
        ("sqlite:///paywire.sqlite3", None, 1),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/x", None, 2),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/x", "1", 1),
        ("sqlite:///paywire.sqlite3", "3", 3),
    ],
)
def test_serve_runs_two_worker_processes_on_postgresql_one_on_sqlite(
    url: str, setting: str | None, expected: int
) -> None:
    overrides = {"PAYWIRE_WORKER_PROCESSES": setting} if setting else {}
    settings = load_settings(_env_file=None, DATABASE_URL=url, **overrides)

    assert worker_processes(settings) == expected


def test_a_ring_wakes_one_idle_worker_of_the_worker_process() -> None:
    bell = WorkersBell(3, linger=0)
    woken: list[bool] = []

    def idle_worker() -> None:
        woken.append(bell.wait(2.0))

    waiting = [threading.Thread(target=idle_worker) for _ in range(3)]
    for thread in waiting:
        thread.start()
    wait_for("all three waiting", lambda: bell.idle == 3)
    bell.ring()
    for thread in waiting:
        thread.join(5)

    assert sorted(woken) == [False, False, True], "one woke at once, two waited their poll out"


def test_rings_nobody_waited_for_are_kept_one_per_worker() -> None:
    bell = WorkersBell(2, linger=0)
    for _ in range(5):
        bell.ring()  # every worker busy

    assert [bell.wait(0.01) for _ in range(3)] == [True, True, False]
    bell.ring_all()
    assert [bell.wait(0.01) for _ in range(3)] == [True, True, False]
