"""Processes and databases the benchmark starts, and stops again whatever happens."""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server process in its own process group, its output in a log file."""

    live: list[Server] = []

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        log: Path,
        port: int | None = None,
    ) -> None:
        self.name = name
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self._log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        full_env = {**os.environ, **(env or {})}
        self.proc = subprocess.Popen(
            [a.replace("{port}", str(self.port)) for a in argv],
            cwd=cwd,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        Server.live.append(self)

    def wait_ready(self, path: str, timeout: float = 60, ok: tuple[int, ...] = (200,)) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                r = httpx.get(self.url + path, timeout=2, trust_env=False)
                if r.status_code in ok:
                    return
                last = f"{r.status_code} {r.text[:200]}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} not ready after {timeout}s ({last}):\n{self.tail()}")

    def pids(self) -> list[int]:
        """The server and its children (gunicorn's workers)."""
        found = [self.proc.pid]
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{self.proc.pid}/task"):
                with contextlib.suppress(OSError):
                    children = Path(f"/proc/{self.proc.pid}/task/{task}/children").read_text().split()
                    found.extend(int(c) for c in children)
        return found

    def peak_rss_mb(self) -> float:
        """VmHWM (peak resident set) of the server, summed over its processes."""
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
        return total / 1024

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far by the server's processes."""
        total = 0
        tick = os.sysconf("SC_CLK_TCK")
        for pid in self.pids():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        return total / tick

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, timeout: float = 15) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        # Children left behind in the group (a worker that ignored SIGTERM).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._log.close()
        if self in Server.live:
            Server.live.remove(self)


class Databases:
    """PostgreSQL databases this run created; all dropped at exit."""

    created: list[str] = []

    @staticmethod
    def _admin(sql: str) -> None:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(sql)

    @classmethod
    def create(cls, name: str, template: str | None = None) -> str:
        cls._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cls._admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        cls.created.append(name)
        return name

    @classmethod
    def drop(cls, name: str) -> None:
        with contextlib.suppress(Exception):
            cls._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in cls.created:
            cls.created.remove(name)

    @classmethod
    def drop_all(cls) -> None:
        for name in list(reversed(cls.created)):
            cls.drop(name)

    @staticmethod
    def url(name: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def postgres_reachable() -> str | None:
    """None if PostgreSQL answers at 127.0.0.1:5432 as postgres, else why not."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def cleanup() -> None:
    for server in list(Server.live):
        with contextlib.suppress(Exception):
            server.stop(timeout=5)
    Databases.drop_all()


def install_cleanup() -> None:
    atexit.register(cleanup)

    def on_signal(signum: int, _frame: Any) -> None:
        cleanup()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)


def load_average() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def log(message: str) -> None:
    """A progress line, shown at once."""
    print(message, flush=True)


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank percentile (q in 0..1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]
