"""Real processes for tests: free ports, waiting for HTTP, clean shutdown."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import httpx

# Test servers listen on ports below Linux's ephemeral range (32768-60999; macOS and Windows
# start higher), so no outgoing connection can be given a port between the moment it is
# chosen here and the moment the server binds it.
PORTS = range(20000, 32000)
_handed_out: set[int] = set()
_random = random.Random()  # its own: a test seeding `random` must not make runs pick alike


def _worker_ports() -> range:
    """This pytest-xdist worker's own slice of PORTS (all of them without xdist), so that
    parallel workers never pick the same port."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    size = len(PORTS) // max(count, 1)
    start = PORTS.start + (index % max(count, 1)) * size
    return range(start, start + size)


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A port nobody listens on, for a test server: from this worker's slice, starting at a
    random place (other test runs on the machine use the same slices), never one this process
    handed out before."""
    ports = _worker_ports()
    first = _random.randrange(len(ports))
    for offset in range(len(ports)):
        port = ports[(first + offset) % len(ports)]
        if port not in _handed_out and _bindable(port):
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free port left in {ports}")


# How long a process or an in-process server may take to answer. Generous: the suite runs
# several test processes on each core, and starting `paywire serve --workers 2` on a loaded
# two-core machine has taken over 20 s. Waiting for the condition costs nothing when it is met.
STARTUP_SECONDS = 60.0


def wait_http(url: str, timeout: float = STARTUP_SECONDS, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            httpx.get(url, timeout=1.0, trust_env=False)
            return
        except httpx.HTTPError as exc:
            last = exc
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s: {last}")


class Process:
    """A child process with its output in a log file, stopped for sure on close."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115
        full_env = {**os.environ, **(env or {})}
        self.proc = subprocess.Popen(
            args, stdout=self._log, stderr=subprocess.STDOUT, env=full_env, start_new_session=True
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        self._log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
