"""The usage load generator: posts usage to `POST /api/usage` as a service does, in its own
process.

    python usage_load.py --url http://127.0.0.1:P/api/usage --token T --users u1,u2 \\
        --batch 1|100 --concurrency 32 --duration 5 --prefix run1 --out result.json

Closed loop: C keep-alive connections, each posting its next request as soon as the previous
one is answered, for `--duration` seconds (at least `--min-requests`); with `--rate R`, request
n is due at start + n/R instead (a steady load). A request is one event
(`--batch 1`, the body is the event) or `--batch` events (`{"events": [...]}`); every event has
its own identifier (`<prefix>-<n>`), a user of `--users` in turn and value 1. The figures are
accepted events a second and each request's latency. The HTTP/1.1 client is the webhook
bench's (a few lines over asyncio streams): the client's CPU is part of what is measured on two
shared cores, and a smaller client takes less of it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "webhooks"))

from loadgen import Connection, StaleConnection

TIMEOUT = 10.0


def bodies(users: list[str], batch: int, prefix: str) -> tuple[int, Callable[[], bytes]]:
    counter = {"n": 0}

    def next_body() -> bytes:
        events = []
        for _ in range(batch):
            n = counter["n"]
            counter["n"] += 1
            user = users[n % len(users)]
            events.append({"user_id": user, "meter": "api_calls", "value": 1, "identifier": f"{prefix}-{n}"})
        payload = events[0] if batch == 1 else {"events": events}
        return json.dumps(payload, separators=(",", ":")).encode()

    return batch, next_body


async def post(conn: Connection, head: bytes, body: bytes) -> int:
    for _ in range(2):
        try:
            return await asyncio.wait_for(conn.post(head, body), TIMEOUT)
        except StaleConnection:
            continue
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            conn.close()
            return 0
    return 0


async def run(args: argparse.Namespace) -> dict:
    parts = urlsplit(args.url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path
    prefix_head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {args.token}\r\n"
        "Content-Type: application/json\r\n"
    ).encode()
    users = args.users.split(",")
    batch, next_body = bodies(users, args.batch, args.prefix)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    sent = 0
    started = time.perf_counter()

    def more() -> bool:
        elapsed = time.perf_counter() - started
        return elapsed < args.max_duration and (elapsed < args.duration or sent < args.min_requests)

    async def worker() -> None:
        nonlocal sent
        conn = Connection(host, port)
        while more():
            sent += 1
            if args.rate:  # open loop: request n is due at start + n / rate
                due = started + (sent - 1) / args.rate
                if (wait := due - time.perf_counter()) > 0:
                    await asyncio.sleep(wait)
            body = next_body()
            head = prefix_head + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
            t0 = time.perf_counter()
            status = await post(conn, head, body)
            latencies.append(time.perf_counter() - t0)
            statuses[status] = statuses.get(status, 0) + 1
        conn.close()

    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "elapsed": elapsed,
        "requests": sent,
        "events": sent * batch,
        "accepted_requests": statuses.get(202, 0),
        "statuses": {str(k): v for k, v in statuses.items()},
        "latencies": latencies,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--users", required=True)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--min-requests", type=int, default=0)
    parser.add_argument("--rate", type=float, default=0.0, help="requests a second (open loop); 0: closed loop")
    parser.add_argument("--max-duration", type=float, default=60.0)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    args.out.write_text(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
