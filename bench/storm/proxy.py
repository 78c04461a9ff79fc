"""A counting proxy between paywire and stripesim, in its own process: it writes down when each
request reached it, so the storm's peaks are measured outside both (stripesim's own log says
when a request reached its event loop, which its own busy moments delay and bunch).

    python bench/storm/proxy.py --port 8123 --upstream http://127.0.0.1:12111 --log requests.log

Each line of the log: `<unix time> <method> <path>`. The time is the kernel's: when the
request's first bytes reached the proxy's socket (Linux's SO_TIMESTAMPNS), not when this
process got round to reading them, which on a machine whose cores the storm keeps busy is up
to 100 ms later; where the kernel gives no time, the time they were read. Clients send one
request at a time on a connection (HTTP/1.1 without pipelining, as requests does), so a request
starts with the first bytes a client sends after the answer to its previous one began.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import struct
import threading
import time
from typing import IO
from urllib.parse import urlsplit

CHUNK = 65536
SO_TIMESTAMPNS = 35  # Linux: the receive time of each packet, as a struct timespec
TIMESPEC = struct.Struct("qq")


class Connection:
    """One client's connection, its upstream one, and whether its next bytes start a request."""

    def __init__(self, client: socket.socket, upstream: socket.socket, log: IO[str], lock: threading.Lock) -> None:
        self.client, self.upstream, self.log, self.lock = client, upstream, log, lock
        self.between_requests = True

    def from_client(self) -> None:
        try:
            while True:
                data, ancillary, _, _ = self.client.recvmsg(CHUNK, socket.CMSG_SPACE(TIMESPEC.size))
                if not data:
                    break
                if self.between_requests:
                    self.between_requests = False
                    self.write_down(data, arrived(ancillary))
                self.upstream.sendall(data)
        except OSError:
            pass
        finally:
            close(self.upstream)

    def from_upstream(self) -> None:
        try:
            while data := self.upstream.recv(CHUNK):
                self.between_requests = True
                self.client.sendall(data)
        except OSError:
            pass
        finally:
            close(self.client)

    def write_down(self, data: bytes, at: float) -> None:
        line = data.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        method, target = (line[0], line[1]) if len(line) >= 2 else ("?", "?")
        with self.lock:
            self.log.write(f"{at:.6f} {method} {target.split('?', 1)[0]}\n")


def arrived(ancillary: list[tuple[int, int, bytes]]) -> float:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= TIMESPEC.size:
            seconds, nanoseconds = TIMESPEC.unpack(data[: TIMESPEC.size])
            return seconds + nanoseconds / 1e9
    return time.time()


def close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def serve(port: int, upstream: str, log_path: str) -> None:
    target = urlsplit(upstream)
    address = (target.hostname or "127.0.0.1", target.port or 80)
    log = open(log_path, "a", buffering=1)  # noqa: SIM115 - open while the proxy runs
    lock = threading.Lock()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)  # the accepted sockets inherit it
    listener.bind(("127.0.0.1", port))
    listener.listen(1024)
    while True:
        client, _ = listener.accept()
        try:
            connection = Connection(client, socket.create_connection(address), log, lock)
        except OSError:
            close(client)
            continue
        threading.Thread(target=connection.from_client, daemon=True).start()
        threading.Thread(target=connection.from_upstream, daemon=True).start()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--log", required=True)
    opts = p.parse_args()
    serve(opts.port, opts.upstream, opts.log)


if __name__ == "__main__":
    main()
