"""How fast stripesim answers: retrieve and create throughput, latency, memory.

    python bench/stripesim_throughput.py [--duration 5] [--concurrency 32] [--clients 1]

Starts real servers (uvicorn processes, as `stripesim --port` runs), pinned to one core when
the machine has two or more, with the load generator on the other cores:
- stripesim: GET /v1/customers/{id} (retrieve) and POST /v1/customers (create), driven by
  concurrent httpx clients, then by the official SDK (threads) for comparison;
- a baseline: the smallest ASGI app (bench/hello_asgi.py) served the same way, driven the
  same way, so stripesim / baseline tells what stripesim itself costs (and whether the load
  generator, not the server, is the limit).
Prints a table, stripesim's RSS, and the ratios. Nothing here is asserted: it is a report.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk_test_benchmark_key_000000"
AUTH = {"Authorization": f"Bearer {KEY}"}


@dataclass
class Result:
    server: str
    op: str
    client: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# ----- servers ---------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_cpus() -> tuple[set[int] | None, set[int] | None]:
    """(server cores, client cores): the server on one core, the load on the rest."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None, None
    if len(cpus) < 2:
        return None, None
    return {cpus[0]}, set(cpus[1:])


class Server:
    def __init__(self, name: str, args: list[str], health: str, cpus: set[int] | None) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

        def pin() -> None:
            if cpus:
                os.sched_setaffinity(0, cpus)

        self.proc = subprocess.Popen(
            [*args, "--port", str(self.port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=pin,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + health, headers=AUTH, timeout=1, trust_env=False)
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{name} did not start")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


# ----- load ------------------------------------------------------------------------------
def _request(op: str, path_id: str, n: int) -> bytes:
    """One HTTP/1.1 keep-alive request, as bytes."""
    auth = f"Authorization: Bearer {KEY}\r\n"
    if op == "retrieve":
        return (f"GET /v1/customers/{path_id} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n").encode()
    body = f"email=bench-{n}%40example.com&metadata%5Buser_id%5D={n}"
    return (
        f"POST /v1/customers HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


async def _raw_load(
    port: int, op: str, ids: list[str], concurrency: int, duration: float
) -> tuple[int, int, list[float]]:
    """Keep-alive connections on bare asyncio streams: a load generator far cheaper per
    request than any HTTP client library, so the server, not the client, is measured."""
    latencies: list[float] = []
    errors = 0
    counter = iter(range(10**9))
    deadline = time.perf_counter() + duration

    async def connection(seed: int) -> None:
        nonlocal errors
        rng = random.Random(seed)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < deadline:
            request = _request(op, rng.choice(ids), next(counter))
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            await _read_body(reader, head.lower())
            latencies.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 200"):
                errors += 1
        writer.close()

    await asyncio.gather(*(connection(n) for n in range(concurrency)))
    return len(latencies), errors, latencies


async def _read_body(reader: asyncio.StreamReader, head: bytes) -> None:
    at = head.find(b"content-length:")
    if at >= 0:
        await reader.readexactly(int(head[at + 15 : head.find(b"\r\n", at)]))
    elif b"transfer-encoding: chunked" in head:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                return


def raw_run(server: Server, op: str, ids: list[str], concurrency: int, duration: float) -> Result:
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    started = time.perf_counter()
    count, errors, latencies = runner(_raw_load(server.port, op, ids, concurrency, duration))
    return Result(server.name, op, "raw socket", concurrency, count, errors, time.perf_counter() - started, latencies)


def httpx_run(server: Server, op: str, ids: list[str], threads: int, duration: float) -> Result:
    """Concurrent httpx clients (one sync client per thread: httpx's async pool slows down
    sharply with many requests in flight, so threads are the faster way to drive it)."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.perf_counter() + duration

    def work(n: int) -> None:
        nonlocal errors
        rng = random.Random(n)
        i = 0
        with httpx.Client(base_url=server.url, headers=AUTH, trust_env=False) as client:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                if op == "retrieve":
                    r = client.get(f"/v1/customers/{rng.choice(ids)}")
                else:
                    r = client.post(
                        "/v1/customers", data={"email": f"httpx-{n}-{i}@example.com", "metadata[user_id]": str(i)}
                    )
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    errors += r.status_code != 200
                i += 1

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    started = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return Result(server.name, op, "httpx", threads, len(latencies), errors, time.perf_counter() - started, latencies)


def sdk_run(server: Server, op: str, ids: list[str], threads: int, duration: float) -> Result:
    import stripe

    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.perf_counter() + duration

    def work(n: int) -> None:
        nonlocal errors
        client = stripe.StripeClient(KEY, base_addresses={"api": server.url}, max_network_retries=0)
        rng = random.Random(n)
        i = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                if op == "retrieve":
                    client.v1.customers.retrieve(rng.choice(ids))
                else:
                    client.v1.customers.create(params={"email": f"sdk-{n}-{i}@example.com"})
            except stripe.StripeError:
                with lock:
                    errors += 1
            with lock:
                latencies.append(time.perf_counter() - started)
            i += 1

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    started = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return Result(
        server.name, op, "stripe SDK", threads, len(latencies), errors, time.perf_counter() - started, latencies
    )


def seed_customers(server: Server, count: int) -> list[str]:
    ids = []
    with httpx.Client(base_url=server.url, headers=AUTH, trust_env=False) as client:
        for i in range(count):
            r = client.post("/v1/customers", data={"email": f"seed-{i}@example.com"})
            ids.append(r.json().get("id", "cus_hello"))
    return ids


# ----- in-process: stripesim's own CPU per request, free of network and load noise -------
def in_process(requests: int, profile: bool) -> dict[str, float]:
    """Call stripesim's ASGI app directly (no sockets): microseconds of CPU per request."""
    sys.path.insert(0, str(ROOT / "src"))
    from stripesim.app import create_app

    app = create_app()
    headers = [
        (b"authorization", f"Bearer {KEY}".encode()),
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/x-www-form-urlencoded"),
    ]

    async def call(method: str, path: str, body: bytes = b"") -> bytes:
        scope = {"type": "http", "method": method, "path": path, "query_string": b"", "headers": headers}
        sent: list[dict[str, object]] = []

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return sent[-1]["body"]  # type: ignore[return-value]

    async def run() -> dict[str, float]:
        import orjson

        ids = [
            orjson.loads(await call("POST", "/v1/customers", f"email=s{i}%40x.com".encode()))["id"] for i in range(1000)
        ]
        rng = random.Random(1)
        out = {}
        for op in ("retrieve", "create"):
            profiler = None
            if profile:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            started = time.perf_counter()
            for i in range(requests):
                if op == "retrieve":
                    await call("GET", f"/v1/customers/{rng.choice(ids)}")
                else:
                    await call("POST", "/v1/customers", f"email=c{i}%40x.com".encode())
            out[op] = (time.perf_counter() - started) / requests * 1e6
            if profiler is not None:
                import pstats

                profiler.disable()
                print(f"\n--- cProfile, {requests} in-process {op} requests (by own time) ---")
                pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
        return out

    return asyncio.run(run())


# ----- report ----------------------------------------------------------------------------
def table(results: list[Result]) -> str:
    head = f"{'server':<10} {'op':<9} {'client':<11} {'conc':>4} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}"
    rows = [head, "-" * len(head)]
    for r in results:
        rows.append(
            f"{r.server:<10} {r.op:<9} {r.client:<11} {r.concurrency:>4} {r.rate:>8.0f} "
            f"{r.pct(0.5):>7.2f} {r.pct(0.99):>7.2f} {r.errors:>6}"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--concurrency", type=int, default=32, help="connections of the raw-socket load")
    parser.add_argument("--threads", type=int, default=4, help="httpx and SDK client threads")
    parser.add_argument("--seed-customers", type=int, default=1000)
    parser.add_argument("--profile", action="store_true", help="also print cProfile's hot spots of in-process requests")
    args = parser.parse_args()

    server_cores, client_cores = server_cpus()
    where = (
        f"server on CPU {sorted(server_cores)}, load on CPUs {sorted(client_cores)}"
        if server_cores and client_cores
        else "unpinned (fewer than 2 CPUs)"
    )
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {where}; {args.duration:g}s per run")
    if client_cores:
        os.sched_setaffinity(0, client_cores)

    results: list[Result] = []
    hello = Server("baseline", [sys.executable, "bench/hello_asgi.py"], "/", server_cores)
    try:
        for op in ("retrieve", "create"):
            results.append(raw_run(hello, op, ["cus_hello"], args.concurrency, args.duration))
            results.append(httpx_run(hello, op, ["cus_hello"], args.threads, args.duration))
    finally:
        hello.stop()

    sim = Server(
        "stripesim", [sys.executable, "-m", "stripesim.cli", "--log-level", "warning"], "/_sim/health", server_cores
    )
    try:
        rss_start = sim.rss_mb()
        ids = seed_customers(sim, args.seed_customers)
        for op in ("retrieve", "create"):
            results.append(raw_run(sim, op, ids, args.concurrency, args.duration))
            results.append(httpx_run(sim, op, ids, args.threads, args.duration))
            results.append(sdk_run(sim, op, ids, args.threads, args.duration))
        objects = httpx.get(f"{sim.url}/_sim/health", trust_env=False).json()["objects"]
        rss_end = sim.rss_mb()
    finally:
        sim.stop()

    cpu = in_process(5000, args.profile)

    print()
    print(table(results))
    print()
    by = {(r.server, r.op, r.client): r for r in results}
    for op in ("retrieve", "create"):
        for client in ("raw socket", "httpx"):
            base, ours = by[("baseline", op, client)], by[("stripesim", op, client)]
            print(
                f"{op:<8} via {client:<10}: stripesim {ours.rate:>6.0f}/s = "
                f"{ours.rate / base.rate:>4.0%} of the baseline ({base.rate:.0f}/s)"
            )
    raw_base = by[("baseline", "retrieve", "raw socket")]
    raw_ours = by[("stripesim", "retrieve", "raw socket")]
    print(
        f"stripesim's own cost per retrieve: ~{1e6 / raw_ours.rate - 1e6 / raw_base.rate:.0f} µs "
        "of server CPU on top of uvicorn"
    )
    for op, micros in cpu.items():
        print(
            f"in-process (ASGI app called directly, no sockets): {op} costs {micros:.0f} µs "
            f"of CPU = at most {1e6 / micros:,.0f}/s on one core before HTTP parsing"
        )
    print(
        f"stripesim RSS: {rss_start:.0f} MB at start, {rss_end:.0f} MB holding {objects} "
        "objects (customers and their events)"
    )


if __name__ == "__main__":
    main()
