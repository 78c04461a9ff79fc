"""Verifying Stripe's webhooks: the one place that decides whether a body came from Stripe.

`stripe.WebhookSignature.verify_header` checks the HMAC over the exact bytes, the timestamp
tolerance and every v1 signature of the header (several during a secret rotation); the body
is then parsed once. (`construct_event` would also build a tree of StripeObjects per event,
which a store-then-process receiver throws away.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import stripe

from paywire.stripe.errors import WebhookSignatureInvalid

SIGNATURE_TOLERANCE_SECONDS = 300


def verify_event(
    payload: bytes, signature_header: str | None, secrets: Sequence[str], tolerance: int = SIGNATURE_TOLERANCE_SECONDS
) -> dict[str, Any]:
    """The verified event as a plain dict. Raises `WebhookSignatureInvalid` (with a
    `reason`), or `ValueError` when the signature is valid but the body is not a JSON event."""
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
    raise WebhookSignatureInvalid(
        "no configured secret matched", reason=rejection_reason(payload, signature_header, secrets)
    )


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
