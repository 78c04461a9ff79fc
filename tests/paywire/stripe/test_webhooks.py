"""The one verification of Stripe's webhooks (`paywire.stripe.webhooks`), against signatures
made here by hand as Stripe makes them."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from paywire.stripe import WebhookSignatureInvalid
from paywire.stripe.webhooks import verify_event


def _sign(payload: bytes, secret: str, at: int | None = None) -> str:
    t = at if at is not None else int(time.time())
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def test_webhooks_verify_against_any_rotating_secret() -> None:
    event = {"id": "evt_1", "object": "event", "type": "customer.created", "data": {"object": {}}}
    payload = json.dumps(event).encode()
    header = _sign(payload, "whsec_new")
    verified = verify_event(payload, header, ["whsec_old", "whsec_new"])
    assert verified["id"] == "evt_1"
    with pytest.raises(WebhookSignatureInvalid):
        verify_event(payload, header, ["whsec_old"])
    with pytest.raises(WebhookSignatureInvalid):
        verify_event(payload, _sign(payload, "whsec_new", int(time.time()) - 3600), ["whsec_new"])
    with pytest.raises(WebhookSignatureInvalid):
        verify_event(payload, None, ["whsec_new"])
    with pytest.raises(WebhookSignatureInvalid):
        verify_event(payload + b" ", header, ["whsec_new"])
