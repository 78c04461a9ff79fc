"""`POST /webhooks/stripe`: verify, store once, answer at once.

Order of work, and why:
1. Read the raw body with a hard 1 MiB cap (from Content-Length, and again while
   streaming): nothing larger is ever buffered. Stripe's events are far smaller.
2. Verify the signature with the SDK on those exact bytes, against every configured secret
   (several during a rotation). Missing, forged or stale → a bare 400 and one log line;
   nothing is parsed or stored before this succeeds.
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
import weakref
from collections.abc import Sequence
from typing import Any

import orjson
import stripe
from fastapi import APIRouter
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from paywire.config import ConfigError, require_webhook_secrets
from paywire.events import store, wakeup
from paywire.events.bell import INBOX_BELL
from paywire.metrics import (
    WEBHOOKS_API_VERSION_MISMATCH,
    WEBHOOKS_DUPLICATES,
    WEBHOOKS_LIVEMODE_MISMATCH,
    WEBHOOKS_RECEIVED,
    WEBHOOKS_REJECTED,
    WEBHOOKS_STORED,
)
from paywire.stripe import PINNED_API_VERSION, WebhookSignatureInvalid
from paywire.web.context import PaywireContext, get_context

log = logging.getLogger("paywire.events.receiver")

PATH = "/webhooks/stripe"
MAX_BODY_BYTES = 1024 * 1024
SIGNATURE_TOLERANCE_SECONDS = 300
# Column widths of the inbox: a longer value cannot be a genuine Stripe event.
MAX_ID_LENGTH = 255
MAX_TYPE_LENGTH = 128
RETRY_AFTER_SECONDS = "10"

# The answers, encoded once (the bytes Starlette's JSONResponse would send).
STORED = b'{"received":true}'
DUPLICATE = b'{"received":true,"duplicate":true}'
UNAVAILABLE = b'{"error":{"message":"Temporarily unavailable; deliver again later."}}'
JSON_HEADERS = [(b"content-type", b"application/json")]


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    pass


def verify_event(
    payload: bytes, signature_header: str | None, secrets: Sequence[str], tolerance: int = SIGNATURE_TOLERANCE_SECONDS
) -> dict[str, Any]:
    """The verified event as a plain dict. Raises `WebhookSignatureInvalid` (with a
    `reason`), or `ValueError` when the signature is valid but the body is not a JSON event.

    `stripe.WebhookSignature.verify_header` checks the HMAC over the exact bytes, the
    timestamp tolerance and every v1 signature of the header; the body is then parsed
    once. (`construct_event` would also build a tree of StripeObjects, ~0.6 ms per event,
    that a store-then-process receiver throws away.)"""
    if not signature_header or not secrets:
        raise WebhookSignatureInvalid("missing signature", reason="missing")
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        # Stripe signs UTF-8 JSON; the SDK cannot even check anything else.
        raise WebhookSignatureInvalid("body is not UTF-8", reason="forged") from None
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(payload, signature_header, secret, tolerance)
        except stripe.SignatureVerificationError:
            continue
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise ValueError("the signed body is not JSON") from exc
        if not (isinstance(event, dict) and isinstance(event.get("id"), str) and isinstance(event.get("type"), str)):
            raise ValueError("the signed body is not a Stripe event")
        return event
    reason = rejection_reason(payload, signature_header, secrets)
    raise WebhookSignatureInvalid("no configured secret matched", reason=reason)


def rejection_reason(payload: bytes, signature_header: str, secrets: Sequence[str]) -> str:
    """Why verification failed, told apart with the SDK itself: a signature that verifies
    without the time check was genuine but is too old (a replay, or a badly late clock)."""
    if "t=" not in signature_header or "v1=" not in signature_header:
        return "malformed_header"
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(payload, signature_header, secret, None)
        except stripe.SignatureVerificationError:
            continue
        return "stale"
    return "forged"


# Workers in other processes of this service (`paywire serve`'s worker process) to wake too.
_remote_bells: list[wakeup.RemoteBell] = []


def wake_worker_at(address: str) -> None:
    """After storing, also ring the worker process listening at `address`."""
    _remote_bells.append(wakeup.RemoteBell(address))


# A stored batch at least this large means webhooks arrive faster than they are committed one
# by one: a burst. The workers are then asked to hold off (`InboxBell.hold`) so the burst is
# acknowledged with the CPU and the database lock to itself; they work it off right after.
BURST_BATCH = 8


def ring_workers(batch_size: int = 1) -> None:
    """Tell workers new events are waiting (once per stored batch, from the writer thread),
    and to hold off while a burst is being acknowledged."""
    burst = batch_size >= BURST_BATCH
    if burst:
        INBOX_BELL.hold()
    INBOX_BELL.ring()
    for bell in _remote_bells:
        bell.ring(hold=burst)


# One writer per engine (its pool): the service, each test's app and a host app each get theirs.
_writers: weakref.WeakKeyDictionary[Engine, store.InboxWriter] = weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()


def inbox_writer(engine: Engine) -> store.InboxWriter:
    """The group-commit writer of this engine, made on first use."""
    writer = _writers.get(engine)
    if writer is None:
        with _writers_lock:
            writer = _writers.get(engine)
            if writer is None:
                writer = _writers[engine] = store.InboxWriter(engine, on_stored=ring_workers)
    return writer


def close_inbox_writer(engine: Engine) -> None:
    """Store what is waiting and stop the engine's writer (at shutdown)."""
    with _writers_lock:
        writer = _writers.pop(engine, None)
    if writer is not None:
        writer.close()


class StripeWebhookEndpoint:
    """The ASGI app of `POST /webhooks/stripe`. With a `context` it serves that one (the
    service's fast lane); without, it finds the context as every paywire route does."""

    def __init__(self, context: PaywireContext | None = None) -> None:
        self.context = context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        WEBHOOKS_RECEIVED.inc()
        context = self.context or get_context(Request(scope))
        try:
            status, body, headers = await self._handle(context, scope, receive)
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

    async def _handle(self, context: PaywireContext, scope: Scope, receive: Receive) -> tuple[int, bytes, list[Any]]:
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
            secrets = require_webhook_secrets(context.settings)
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
        row = store.new_event(body.decode("utf-8"), event, expected_livemode=context.settings.livemode)
        try:
            stored = await inbox_writer(context.engine).store(row)
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


router = APIRouter(tags=["webhooks"])
# A plain route to an ASGI app: FastAPI adds no request parsing or dependency solving.
router.routes.append(Route(PATH, StripeWebhookEndpoint(), methods=["POST"], include_in_schema=False))
