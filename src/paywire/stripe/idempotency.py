"""Idempotency keys derived from the business operation.

A retried request (a double click, a network retry, ten racing requests of one user)
derives the same key, so Stripe answers with the first result instead of creating a
second customer or session. The SDK's own per-call keys cannot do that: they differ per
call. Stripe keeps keys for 24 hours and refuses a key reused with other parameters.
"""

from __future__ import annotations

import hashlib

MAX_KEY_LENGTH = 255
# Checkout Sessions for the same choice within this window are the same session.
CHECKOUT_WINDOW_SECONDS = 600


def _key(*parts: object) -> str:
    key = ":".join(str(p) for p in parts)
    if len(key) <= MAX_KEY_LENGTH:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    # The readable head is kept only while the whole key still fits: the second part may be
    # a user id, as long as 200 characters.
    head = f"{parts[0]}:{parts[1]}"
    if len(head) + len(":sha256:") + len(digest) > MAX_KEY_LENGTH:
        head = str(parts[0])
    return f"{head}:sha256:{digest}"


def time_bucket(now: float, window: int = CHECKOUT_WINDOW_SECONDS) -> int:
    return int(now // window)


def customer_create(user_id: str) -> str:
    return _key("customer", "create", user_id)


def checkout_subscription(user_id: str, plan: str, interval: str, quantity: int, bucket: int, variant: str = "") -> str:
    """`variant` distinguishes otherwise equal requests whose Stripe parameters differ
    (e.g. the price behind a lookup key moved), which Stripe would refuse under one key."""
    return _key("checkout", user_id, plan, interval, quantity, bucket, variant)


def checkout_expire(session_id: str) -> str:
    return _key("checkout", "expire", session_id)


def checkout_purchase(user_id: str, product: str, after: str, variant: str = "") -> str:
    """A purchase is the user's next one of `product` after their purchase `after` (its
    Checkout Session, or "first"): a retried click finds the same session, buying again (once
    that one is paid or expired) is a new operation."""
    return _key("checkout", user_id, product, "once", after, variant)


def portal_session(user_id: str, bucket: int, configuration: str = "") -> str:
    return _key("portal", user_id, bucket, configuration) if configuration else _key("portal", user_id, bucket)


def test_clock(user_id: str) -> str:
    return _key("test-clock", user_id)


def catalog_product(product_key: str, fingerprint: str) -> str:
    return _key("catalog", "product", product_key, fingerprint)


def catalog_meter(event_name: str, fingerprint: str) -> str:
    return _key("catalog", "meter", event_name, fingerprint)


def catalog_price(lookup_key: str, fingerprint: str) -> str:
    return _key("catalog", "price", lookup_key, fingerprint)


def webhook_endpoint(url: str) -> str:
    return _key("webhook_endpoint", "create", url)


def fingerprint(*parts: object) -> str:
    """A short digest of the parameters, for keys whose operation may legitimately be
    repeated with different values (a catalog price changing amount)."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def subscription_operation(operation: str, subscription_id: str, state: str, target: object = "") -> str:
    """An operation on a subscription (swap, schedule, cancel, pause …). `state` fingerprints
    the subscription as read just before: a retry of the same request on the same state is
    the same operation; the same request later, on a subscription that has changed since
    (back and forth between two plans within 24 h), is a new one."""
    return _key("subscription", operation, subscription_id, state, target)


def refund(subscription_id: str, payment_intent_id: str, amount: int) -> str:
    return _key("refund", subscription_id, payment_intent_id, amount)


def portal_configuration(fingerprint_: str) -> str:
    return _key("portal_configuration", "create", fingerprint_)


def connect_account(user_id: str) -> str:
    """A user's connected account: created once, whoever asks how often."""
    return _key("connect", "account", user_id)


def marketplace_checkout(user_id: str, lines: str, bucket: int, variant: str = "") -> str:
    """A checkout buying `lines` (products and sellers) within one time window: a double click
    finds the same session; `variant` moves on from a session that was paid or expired."""
    return _key("checkout", user_id, "marketplace", lines, bucket, variant)


def seller_transfer(checkout_session_id: str, line: int) -> str:
    """A multi-seller order's transfer to the seller of one line: made once."""
    return _key("transfer", checkout_session_id, line)


def sale_refund(charge_id: str, amount: int | None, refunded_before: int) -> str:
    """A refund of a sale: the same request on the same charge is one refund; another refund
    once the first went through (more refunded before it) is a new one."""
    return _key("refund", "sale", charge_id, amount if amount is not None else "all", refunded_before)


def payment_refund(request_key: str, charge_id: str) -> str:
    """One refund request's refund of one charge (a request is made once: `refund_requests`)."""
    return _key("refund", request_key, charge_id)


def end_access(subscription_id: str, cause: str) -> str:
    """Ending a subscription because its payment was refunded or its dispute lost (`cause`)."""
    return _key("end_access", subscription_id, cause)


def dispute_evidence(dispute_id: str, fingerprint_: str, submit: bool) -> str:
    """Evidence staged (the same evidence twice is one request) or submitted (once)."""
    return _key("dispute_submit", dispute_id) if submit else _key("dispute_stage", dispute_id, fingerprint_)


def dispute_close(dispute_id: str) -> str:
    return _key("dispute_close", dispute_id)


def evidence_file(dispute_id: str, field: str, sha256: str) -> str:
    return _key("evidence_file", dispute_id, field, sha256)
