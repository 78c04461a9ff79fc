"""The token's `sub` is stored, logged and sent to Stripe as the user id: only ids that can be are
accepted, and every id accepted works end to end."""

from __future__ import annotations

import time

import jwt
import pytest

from paywire.stripe import idempotency as keys
from tests.paywire.conftest import AUTH_SECRET, Service


def _bearer(sub: str) -> dict[str, str]:
    token = jwt.encode({"sub": sub, "exp": int(time.time()) + 600}, AUTH_SECRET, "HS256")
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "sub",
    [
        "a\x00b",  # PostgreSQL refuses NUL in text: a 500 on every route
        "mallory\n2026-01-01 INFO paywire.web admin alice canceled bob",  # a forged log line
        "admin\u202e",  # a bidi override, to look like another id in logs and dashboards
        "   ",
        "a" * 201,  # longer than Stripe's client_reference_id
    ],
)
def test_a_token_naming_an_unusable_user_id_is_refused(paywire_service: Service, sub: str) -> None:
    with paywire_service.http() as http:
        for method, path in [("GET", "/api/billing"), ("POST", "/api/checkout"), ("POST", "/api/billing-portal")]:
            r = http.request(method, path, headers=_bearer(sub), json={"plan": "basic", "interval": "month"})
            assert r.status_code == 401, (method, path, r.text)
            assert r.json()["error"]["message"] == "The token names no user."


def test_the_longest_accepted_user_id_can_check_out(paywire_service: Service) -> None:
    """200 characters: the idempotency keys derived from it still fit Stripe's 255."""
    user = "u" * 200
    with paywire_service.http() as http:
        r = http.post("/api/checkout", headers=_bearer(user), json={"plan": "pro", "interval": "month", "quantity": 2})
        assert r.status_code == 200, r.text
        again = http.post(
            "/api/checkout", headers=_bearer(user), json={"plan": "pro", "interval": "month", "quantity": 2}
        )
        assert again.json()["id"] == r.json()["id"]
        portal = http.post("/api/billing-portal", headers=_bearer(user))
        assert portal.status_code == 200, portal.text


def test_long_idempotency_keys_fit_and_stay_distinct() -> None:
    user = "u" * 200
    made = {
        keys.checkout_subscription(user, "pro", "month", 2, 123, variant="price_1234567890abcdefghijkl:0"),
        keys.checkout_subscription(user, "pro", "month", 3, 123, variant="price_1234567890abcdefghijkl:0"),
        keys.checkout_purchase(user, "pass-3-months", 123, variant="price_1234567890abcdefghijkl"),
        keys.portal_session(user, 123, "bpc_1234567890abcdefghijkl"),
        keys.customer_create(user + "x" * 55),
    }
    assert len(made) == 5
    assert all(len(key) <= keys.MAX_KEY_LENGTH for key in made)
