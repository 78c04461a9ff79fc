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
4. Answer 200. The worker does the rest; if the database is down the answer is 503, so
   Stripe delivers again later, and the single statement leaves no partial row.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from paywire.config import ConfigError, require_webhook_secrets
from paywire.events import inbox
from paywire.events.bell import INBOX_BELL
from paywire.metrics import (
    WEBHOOKS_API_VERSION_MISMATCH,
    WEBHOOKS_DUPLICATES,
    WEBHOOKS_LIVEMODE_MISMATCH,
    WEBHOOKS_RECEIVED,
    WEBHOOKS_REJECTED,
    WEBHOOKS_STORED,
)
from paywire.stripe import PINNED_API_VERSION, WebhookSignatureInvalid, verify_webhook
from paywire.web.context import Context, PaywireContext

log = logging.getLogger("paywire.events.receiver")

MAX_BODY_BYTES = 1024 * 1024
SIGNATURE_TOLERANCE_SECONDS = 300
# Column widths of the inbox: a longer value cannot be a genuine Stripe event.
MAX_ID_LENGTH = 255
MAX_TYPE_LENGTH = 128
RETRY_AFTER_SECONDS = "10"

router = APIRouter(tags=["webhooks"])


class BodyTooLarge(Exception):
    pass


@router.post("/webhooks/stripe", include_in_schema=False)
async def receive_stripe_event(request: Request, context: Context) -> Response:
    WEBHOOKS_RECEIVED.inc()
    try:
        body = await read_capped_body(request, MAX_BODY_BYTES)
    except BodyTooLarge:
        return reject("too_large", 413)
    except ValueError:
        return reject("bad_content_length", 400)
    return await run_in_threadpool(accept_event, context, body, request.headers.get("stripe-signature"))


async def read_capped_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing (before reading, or as soon as the limit is passed) anything
    over `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise ValueError("Content-Length is not a number")
        if int(declared) > limit:
            raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def reject(reason: str, status: int = 400) -> Response:
    """A bare refusal: no body, so nothing about the check leaks to the sender."""
    WEBHOOKS_REJECTED.labels(reason=reason).inc()
    log.warning("webhook rejected: reason=%s status=%d", reason, status)
    return Response(status_code=status)


def accept_event(context: PaywireContext, body: bytes, signature: str | None) -> Response:
    """Verify and store (blocking work, run in a thread)."""
    try:
        secrets = require_webhook_secrets(context.settings)
    except ConfigError:
        log.error("webhook refused: STRIPE_WEBHOOK_SECRET is not configured")
        return reject("no_secret_configured")
    try:
        event = verify_webhook(body, signature, secrets, tolerance=SIGNATURE_TOLERANCE_SECONDS)
    except WebhookSignatureInvalid as exc:
        return reject(exc.reason)
    except ValueError:
        return reject("malformed")
    if len(event["id"]) > MAX_ID_LENGTH or len(event["type"]) > MAX_TYPE_LENGTH:
        return reject("malformed")
    row = inbox.new_event(body.decode("utf-8"), event, expected_livemode=context.settings.livemode)
    try:
        with context.sessions() as session:
            stored = inbox.store(session, row)
            session.commit()
    except SQLAlchemyError as exc:
        log.error("webhook %s not stored, answering 503: %s", row.id, type(exc).__name__)
        return JSONResponse(
            {"error": {"message": "Temporarily unavailable; deliver again later."}},
            status_code=503,
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    if not stored:
        WEBHOOKS_DUPLICATES.inc()
        log.info("webhook duplicate: event=%s type=%s", row.id, row.type)
        return JSONResponse({"received": True, "duplicate": True})
    WEBHOOKS_STORED.inc()
    note_mismatches(row)
    if row.state == "pending":
        INBOX_BELL.ring()
    return JSONResponse({"received": True})


def note_mismatches(row: inbox.NewEvent) -> None:
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
