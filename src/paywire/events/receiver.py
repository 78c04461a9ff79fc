"""`POST /webhooks/stripe`: verify, store once, answer at once.

Order of work, and why:
1. Read the raw body with a hard 1 MiB cap (from Content-Length, and again while
   streaming): nothing larger is ever buffered. Stripe's events are far smaller.
2. Verify the signature with the SDK on those exact bytes, against every configured secret
   (several during a rotation; `paywire.stripe.webhooks`). Missing, forged or stale → a bare
   400 and one log line; nothing is parsed or stored before this succeeds.
3. Store the event in the inbox with one INSERT … ON CONFLICT DO NOTHING: a redelivery
   finds its id there and gets 200 with nothing more. An event whose `livemode` differs
   from the key's is stored as `livemode_mismatch` (for the record) and never applied.
4. Answer 200 once the row is committed. The worker does the rest; if the database is down
   the answer is 503, so Stripe delivers again later, and the single statement leaves no
   partial row.

Stripe sends every event here, so this is the one hot path of the service. It is a plain
ASGI endpoint (no dependency injection or body validation layers: it needs none), the SDK
checks the signature without building StripeObjects (`verify_header`, then one orjson
parse), and rows go through `InboxWriter`, which commits many concurrent webhooks in one
statement. `paywire serve` also routes this path around FastAPI's middleware
(`paywire.web.app`); mounted in a host app it is an ordinary route.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from paywire.config import ConfigError, Settings, require_webhook_secrets
from paywire.events import store, wakeup
from paywire.events.bell import InboxBell
from paywire.metrics import (
    WEBHOOKS_API_VERSION_MISMATCH,
    WEBHOOKS_DUPLICATES,
    WEBHOOKS_LIVEMODE_MISMATCH,
    WEBHOOKS_RECEIVED,
    WEBHOOKS_REJECTED,
    WEBHOOKS_STORED,
)
from paywire.stripe import PINNED_API_VERSION, WebhookSignatureInvalid
from paywire.stripe.webhooks import verify_event

log = logging.getLogger("paywire.events.receiver")

PATH = "/webhooks/stripe"
MAX_BODY_BYTES = 1024 * 1024
# Column widths of the inbox: a longer value cannot be a genuine Stripe event.
MAX_ID_LENGTH = 255
MAX_TYPE_LENGTH = 128
RETRY_AFTER_SECONDS = "10"

# The answers, encoded once (the bytes Starlette's JSONResponse would send).
STORED = b'{"received":true}'
DUPLICATE = b'{"received":true,"duplicate":true}'
UNAVAILABLE = b'{"error":{"message":"Temporarily unavailable; deliver again later.","code":"unavailable","field":null}}'
JSON_HEADERS = [(b"content-type", b"application/json")]


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    pass


# A stored batch at least this large means webhooks arrive faster than they are committed one
# by one: a burst. The workers are then asked to hold off (`InboxBell.hold`) so the burst is
# acknowledged with the CPU and the database lock to itself; they work it off right after.
BURST_BATCH = 8


class WebhookReceiver:
    """The receiving side of one app: its settings, its group-commit inbox writer, and the
    workers to wake after each stored batch (a worker thread of this process through its
    bell, worker processes through their wake-up sockets)."""

    def __init__(self, settings: Settings, engine: Engine, bell: InboxBell | None = None) -> None:
        self.settings = settings
        self.bell = bell or InboxBell()
        self._remote_bells: list[wakeup.RemoteBell] = []
        self._engine = engine
        self._writer: store.InboxWriter | None = None
        self._lock = threading.Lock()

    @property
    def writer(self) -> store.InboxWriter:
        """The group-commit writer, started on first use (a process that never receives a
        webhook never starts its thread)."""
        if self._writer is None:
            with self._lock:
                if self._writer is None:
                    self._writer = store.InboxWriter(self._engine, on_stored=self.ring_workers)
        return self._writer

    def wake_worker_at(self, address: str) -> None:
        """After storing, also ring the worker process listening at `address`."""
        self._remote_bells.append(wakeup.RemoteBell(address))

    def ring_workers(self, batch_size: int = 1) -> None:
        """Tell workers new events are waiting (once per stored batch, from the writer thread),
        and to hold off while a burst is being acknowledged."""
        burst = batch_size >= BURST_BATCH
        if burst:
            self.bell.hold()
        self.bell.ring()
        for bell in self._remote_bells:
            bell.ring(hold=burst)

    def close(self) -> None:
        """Store what is waiting and stop the writer (at shutdown)."""
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()


class StripeWebhookEndpoint:
    """The ASGI app of `POST /webhooks/stripe`, for one receiver: a plain route in a host app,
    and the service's fast lane around FastAPI (`paywire.web.app`)."""

    def __init__(self, receiver: WebhookReceiver) -> None:
        self.receiver = receiver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        WEBHOOKS_RECEIVED.inc()
        try:
            status, body, headers = await self._handle(scope, receive)
        except ClientGone:
            return
        except Exception:
            # The same bare 500 Starlette's error middleware would send, minus the trace.
            log.exception("webhook failed unexpectedly")
            status, body, headers = 500, b"", []
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-length", str(len(body)).encode()), *headers],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _handle(self, scope: Scope, receive: Receive) -> tuple[int, bytes, list[Any]]:
        signature: str | None = None
        declared: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"stripe-signature":
                signature = value.decode("latin-1")
            elif name == b"content-length":
                declared = value
        try:
            body = await read_capped_body(receive, declared, MAX_BODY_BYTES)
        except BodyTooLarge:
            return reject("too_large", 413)
        except ValueError:
            return reject("bad_content_length", 400)
        try:
            secrets = require_webhook_secrets(self.receiver.settings)
        except ConfigError:
            log.error("webhook refused: STRIPE_WEBHOOK_SECRET is not configured")
            return reject("no_secret_configured")
        try:
            event = verify_event(body, signature, secrets)
        except WebhookSignatureInvalid as exc:
            return reject(exc.reason)
        except ValueError:
            return reject("malformed")
        if len(event["id"]) > MAX_ID_LENGTH or len(event["type"]) > MAX_TYPE_LENGTH:
            return reject("malformed")
        row = store.new_event(body.decode("utf-8"), event, expected_livemode=self.receiver.settings.livemode)
        try:
            stored = await self.receiver.writer.store(row)
        except (SQLAlchemyError, store.StoreUnavailable) as exc:
            log.error("webhook %s not stored, answering 503: %s", row.id, type(exc).__name__)
            return 503, UNAVAILABLE, [*JSON_HEADERS, (b"retry-after", RETRY_AFTER_SECONDS.encode())]
        if not stored:
            WEBHOOKS_DUPLICATES.inc()
            log.info("webhook duplicate: event=%s type=%s", row.id, row.type)
            return 200, DUPLICATE, JSON_HEADERS
        WEBHOOKS_STORED.inc()
        note_mismatches(row)
        return 200, STORED, JSON_HEADERS


async def read_capped_body(receive: Receive, declared: bytes | None, limit: int) -> bytes:
    """The raw body, refusing (before reading, or as soon as the limit is passed) anything
    over `limit` bytes."""
    if declared is not None:
        if not declared.strip().isdigit():
            raise ValueError("Content-Length is not a number")
        if int(declared) > limit:
            raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def reject(reason: str, status: int = 400) -> tuple[int, bytes, list[Any]]:
    """A bare refusal: no body, so nothing about the check leaks to the sender."""
    WEBHOOKS_REJECTED.labels(reason=reason).inc()
    log.warning("webhook rejected: reason=%s status=%d", reason, status)
    return status, b"", []


def note_mismatches(row: store.NewEvent) -> None:
    """Count and log what makes a verified event suspicious (once, when first stored)."""
    if row.state == "livemode_mismatch":
        WEBHOOKS_LIVEMODE_MISMATCH.inc()
        log.warning(
            "webhook livemode mismatch: event=%s type=%s livemode=%s; stored, not applied",
            row.id,
            row.type,
            row.livemode,
        )
    if row.api_version and row.api_version != PINNED_API_VERSION:
        WEBHOOKS_API_VERSION_MISMATCH.labels(api_version=row.api_version).inc()
        log.warning(
            "webhook api_version mismatch: event=%s api_version=%s pinned=%s; objects are re-read "
            "in the pinned version",
            row.id,
            row.api_version,
            PINNED_API_VERSION,
        )


def webhook_route(receiver: WebhookReceiver) -> Route:
    """`POST /webhooks/stripe` as a plain route to the ASGI endpoint: FastAPI adds no request
    parsing or dependency solving."""
    return Route(PATH, StripeWebhookEndpoint(receiver), methods=["POST"], include_in_schema=False)
