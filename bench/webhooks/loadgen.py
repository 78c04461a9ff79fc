"""The load generator: posts signed Stripe events to one target, in its own process.

    python loadgen.py --url http://127.0.0.1:P/webhooks/stripe --secret whsec_… \\
        --events events.jsonl --first 0 --count 5000 --out result.json \\
        (--concurrency 32 [--duration 5] | --rate 500 --duration 10)

Closed loop (`--concurrency C`): C keep-alive connections, each posting the next event as
soon as the previous one is answered, until `--count` events or `--duration` seconds; the
figure is acknowledged events per second.

Open loop (`--rate R`): event i is due at start + i/R whatever happened before; it goes out
on an idle connection or a new one, and its latency runs from the moment it was due, so a
server that falls behind shows it in the latency instead of slowing the client down
(no coordinated omission).

Each delivery is signed as Stripe signs it, at the moment it is sent:
`Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.

The HTTP/1.1 client is a few lines over asyncio streams (uvloop when present) rather than
httpx: on two cores shared with the servers, the client's own CPU time is part of what is
measured, and a smaller client takes less of it. It understands Content-Length, chunked
bodies and `Connection: close` (gunicorn's sync workers close after every response).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import time
from pathlib import Path
from urllib.parse import urlsplit

USER_AGENT = b"Stripe/1.0 (+https://stripe.com/docs/webhooks)"
TIMEOUT = 10.0  # a delivery not answered by then counts as failed, as Stripe would count it


class StaleConnection(Exception):
    """A kept-alive connection the server had closed before this request reached it."""


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.used = 0  # requests answered on the current socket

    async def ensure(self) -> None:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            self.used = 0

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def post(self, head: bytes, body: bytes) -> int:
        """Send one request, read the whole response; returns its status."""
        await self.ensure()
        assert self.reader is not None and self.writer is not None
        self.writer.write(head + body)
        try:
            status_and_headers = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            # uvicorn closes connections idle for 5 s; an open-loop client at a low rate
            # meets such sockets. Nothing was read: the server never saw this request.
            if self.used and (not isinstance(exc, asyncio.IncompleteReadError) or not exc.partial):
                self.close()
                raise StaleConnection from exc
            raise
        lines = status_and_headers.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = None
        chunked = False
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                close = True
        if chunked:
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        elif length:
            await self.reader.readexactly(length)
        elif length is None and close:
            await self.reader.read()
        self.used += 1
        if close:
            self.close()
        return status


class Target:
    def __init__(self, url: str, secret: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = parts.path or "/"
        self.secret = secret.encode()
        self.prefix = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n".encode()
            + b"User-Agent: "
            + USER_AGENT
            + b"\r\n"
            + b"Accept: */*; q=0.5, application/xml\r\nCache-Control: no-cache\r\n"
            + b"Content-Type: application/json; charset=utf-8\r\n"
        )

    def head(self, body: bytes) -> bytes:
        t = str(int(time.time())).encode()
        digest = hmac.new(self.secret, t + b"." + body, hashlib.sha256).hexdigest().encode()
        return (
            self.prefix
            + b"Stripe-Signature: t="
            + t
            + b",v1="
            + digest
            + b"\r\n"
            + b"Content-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
        )


async def deliver(target: Target, conn: Connection, body: bytes) -> int:
    """POST one event; 0 when it timed out or the connection failed."""
    for _ in range(2):
        try:
            return await asyncio.wait_for(conn.post(target.head(body), body), TIMEOUT)
        except StaleConnection:
            continue  # once more on a new socket, as HTTP clients do for a stale keep-alive
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            conn.close()
            return 0
    return 0


async def closed_loop(
    target: Target,
    bodies: list[bytes],
    ids: list[str],
    concurrency: int,
    duration: float | None,
    min_count: int,
    max_duration: float,
) -> dict:
    """Until the events run out, or `duration` has passed and `min_count` events went out
    (a slow server still gets enough requests to measure), or `max_duration` has passed."""
    results: list[tuple[str, int, float, float]] = []  # id, status, sent (wall), latency
    next_index = 0
    started = time.perf_counter()

    def more() -> bool:
        elapsed = time.perf_counter() - started
        if next_index >= len(bodies) or elapsed >= max_duration:
            return False
        return duration is None or elapsed < duration or next_index < min_count

    async def worker() -> None:
        nonlocal next_index
        conn = Connection(target.host, target.port)
        while more():
            i = next_index
            next_index += 1
            wall = time.time()
            t0 = time.perf_counter()
            status = await deliver(target, conn, bodies[i])
            results.append((ids[i], status, wall, time.perf_counter() - t0))
        conn.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"elapsed": elapsed, "results": results}


async def open_loop(target: Target, bodies: list[bytes], ids: list[str], rate: float, max_connections: int) -> dict:
    results: list[tuple[str, int, float, float]] = []
    idle: list[Connection] = []
    opened = 0
    freed = asyncio.Condition()
    tasks: set[asyncio.Task] = set()

    async def send(i: int, due: float, due_wall: float) -> None:
        nonlocal opened
        async with freed:
            while not idle and opened >= max_connections:
                await freed.wait()
            if idle:
                conn = idle.pop()
            else:
                opened += 1
                conn = Connection(target.host, target.port)
        status = await deliver(target, conn, bodies[i])
        results.append((ids[i], status, due_wall, time.perf_counter() - due))
        async with freed:
            idle.append(conn)
            freed.notify()

    started = time.perf_counter()
    wall0 = time.time()
    for i in range(len(bodies)):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(send(i, due, wall0 + (due - started)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    sent_for = time.perf_counter() - started
    if tasks:
        await asyncio.wait(list(tasks))
    elapsed = time.perf_counter() - started
    for conn in idle:
        conn.close()
    return {"elapsed": elapsed, "offered_for": sent_for, "connections": opened, "results": results}


async def warm_up(target: Target, bodies: list[bytes]) -> list[int]:
    conns = [Connection(target.host, target.port) for _ in range(4)]
    statuses: list[int] = []

    async def run(k: int) -> None:
        for body in bodies[k::4]:
            statuses.append(await deliver(target, conns[k], body))
        conns[k].close()

    await asyncio.gather(*(run(k) for k in range(4)))
    return statuses


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--events", required=True, type=Path)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=0, help="events sent first, not measured")
    parser.add_argument("--concurrency", type=int)
    parser.add_argument("--rate", type=float)
    parser.add_argument("--duration", type=float)
    parser.add_argument("--min-count", type=int, default=0, help="closed loop: at least this many events")
    parser.add_argument("--max-duration", type=float, default=120.0, help="closed loop: never longer")
    parser.add_argument("--max-connections", type=int, default=256)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()

    lines = args.events.read_bytes().splitlines()
    warm = lines[args.first : args.first + args.warmup]
    chosen = lines[args.first + args.warmup : args.first + args.warmup + args.count]
    ids = [json.loads(b)["id"] for b in chosen]
    target = Target(args.url, args.secret)

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def go() -> dict:
        warm_statuses = await warm_up(target, warm) if warm else []
        if not chosen:  # a warm-up on its own (run.py waits for it to be worked off)
            out: dict = {"elapsed": 0.0, "results": []}
        elif args.rate:
            out = await open_loop(target, chosen, ids, args.rate, args.max_connections)
        else:
            out = await closed_loop(
                target, chosen, ids, args.concurrency or 1, args.duration, args.min_count, args.max_duration
            )
        out["warmup_statuses"] = warm_statuses
        return out

    out = asyncio.run(go())
    out["warmup_ids"] = [json.loads(b)["id"] for b in warm]
    args.out.write_text(json.dumps(out))


if __name__ == "__main__":
    main()
