"""A counting proxy between paywire and stripesim, in its own process: it writes down when each
request reached it, so the storm's peaks are measured outside both (stripesim's own log says
when a request reached its event loop, which its own busy moments delay and bunch).

    python bench/storm/proxy.py --port 8123 --upstream http://127.0.0.1:12111 --log requests.log

Each line of the log: `<unix time> <method> <path>`, written when the request's first bytes
arrived. Clients send one request at a time on a connection (HTTP/1.1 without pipelining, as
requests does), so a request starts with the first bytes a client sends after the answer to
its previous one began.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from typing import IO
from urllib.parse import urlsplit

CHUNK = 65536


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Callable[[bytes], None]) -> None:
    try:
        while data := await reader.read(CHUNK):
            seen(data)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


class Connection:
    """One client's connection and its state: whether its next bytes start a request."""

    def __init__(self, log: IO[str]) -> None:
        self.log = log
        self.between_requests = True

    def from_client(self, data: bytes) -> None:
        if self.between_requests:
            at = time.time()
            self.between_requests = False
            line = data.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            method, target = (line[0], line[1]) if len(line) >= 2 else ("?", "?")
            self.log.write(f"{at:.6f} {method} {target.split('?', 1)[0]}\n")

    def from_upstream(self, data: bytes) -> None:
        self.between_requests = True


async def serve(port: int, upstream: str, log_path: str) -> None:
    target = urlsplit(upstream)
    host, upstream_port = target.hostname or "127.0.0.1", target.port or 80
    log = open(log_path, "a", buffering=1)  # noqa: SIM115 - open while the proxy runs

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(host, upstream_port)
        except OSError:
            client_writer.close()
            return
        connection = Connection(log)
        await asyncio.gather(
            pump(client_reader, upstream_writer, connection.from_client),
            pump(upstream_reader, client_writer, connection.from_upstream),
        )

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--log", required=True)
    opts = p.parse_args()
    asyncio.run(serve(opts.port, opts.upstream, opts.log))


if __name__ == "__main__":
    main()
