"""A real local HTTP endpoint that receives stripesim's webhooks and verifies each with the SDK."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import stripe

from tests.stripesim.waiting import wait_until


@dataclass
class Delivery:
    path: str
    body: bytes
    signature: str
    received_at: float
    event: stripe.Event | None = None  # set when the SDK accepted the signature
    error: str | None = None


@dataclass
class Receiver:
    """Answers each POST with `status_for(path, n)` (n = deliveries so far to that path)."""

    secrets: dict[str, str] = field(default_factory=dict)  # path -> whsec_…
    deliveries: list[Delivery] = field(default_factory=list)
    status_for: Callable[[str, int], int] = lambda path, n: 200
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                delivery = Delivery(self.path, body, self.headers.get("stripe-signature", ""), time.time())
                secret = receiver.secrets.get(self.path, "")
                try:
                    delivery.event = stripe.Webhook.construct_event(body, delivery.signature, secret)
                except (stripe.SignatureVerificationError, ValueError) as exc:
                    delivery.error = f"{type(exc).__name__}: {exc}"
                with receiver.lock:
                    n = sum(1 for d in receiver.deliveries if d.path == self.path)
                    receiver.deliveries.append(delivery)
                status = receiver.status_for(self.path, n) if delivery.event else 400
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def got(self, path: str | None = None) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if path is None or d.path == path]

    def wait_for(self, count: int, path: str | None = None, timeout: float = 15.0) -> list[Delivery]:
        wait_until(
            lambda: len(self.got(path)) >= count,
            timeout,
            lambda: f"expected {count} deliveries to {path}, got {len(self.got(path))}",
        )
        return self.got(path)
