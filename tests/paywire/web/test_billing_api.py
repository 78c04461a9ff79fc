from __future__ import annotations

import time

import httpx
import stripe
from sqlalchemy import func, select

from paywire.db.models import Customer, Order
from paywire.db.repositories import customers
from tests.paywire.conftest import Service
from tests.paywire.factories import mirror_subscription


def test_a_user_with_nothing(paywire_service: Service) -> None:
    with paywire_service.http() as http:
        r = http.get("/api/billing", headers=paywire_service.headers_for("nobody"))
    assert r.status_code == 200
    body = r.json()
    assert body["plan"] is None and body["access"] is False
    assert body["reason"] == "no_subscription"
    for key in (
        "status",
        "features",
        "limits",
        "quantity",
        "current_period_end",
        "cancel_at_period_end",
    ):
        assert key in body


def test_a_mirrored_subscription_is_reported(paywire_service: Service) -> None:
    with paywire_service.sessions() as session:
        row = mirror_subscription(session, "u1", plan="pro", status="active", quantity=3)
    with paywire_service.http() as http:
        body = http.get("/api/billing", headers=paywire_service.headers_for("u1")).json()
    assert (body["plan"], body["status"], body["access"], body["quantity"]) == (
        "pro",
        "active",
        True,
        3,
    )
    assert "api_access" in body["features"] and body["limits"]["projects"] == 1000
    assert body["current_period_end"] == row.current_period_end
    assert body["cancel_at_period_end"] is False


def _nothing_changed(service: Service, client: stripe.StripeClient) -> None:
    with service.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 0
        assert session.scalar(select(func.count()).select_from(Order)) == 0
    assert client.v1.customers.list().data == []


def test_bad_checkout_requests_are_refused_and_change_nothing(
    paywire_service: Service, stripe_client: stripe.StripeClient
) -> None:
    cases = [
        ({"plan": "gold", "interval": "month"}, "plan"),
        ({"plan": "pro", "interval": "month", "price": "price_123"}, "price"),
        ({"plan": "pro", "interval": "month", "amount": 1}, "amount"),
        ({"plan": "pro", "interval": "month", "unit_amount": 1}, "unit_amount"),
        ({"plan": "pro", "interval": "month", "line_items": []}, "line_items"),
        ({"plan": "pro", "interval": "month", "quantity": 0}, "quantity"),
        ({"plan": "pro", "interval": "month", "quantity": 101}, "quantity"),
        ({"plan": "pro", "interval": "month", "quantity": "3"}, "quantity"),
        ({"plan": "pro", "interval": "month", "quantity": 2.5}, "quantity"),
        ({"plan": "basic", "interval": "month", "quantity": 2}, "quantity"),
        ({"plan": "pro", "interval": "fortnight"}, "interval"),
        ({"plan": "pro", "interval": "month", "coupon": "FREE"}, "coupon"),
        ({"product": "lifetime"}, "product"),
        ({"product": "pass-3-months", "quantity": 5}, "quantity"),
    ]
    with paywire_service.http() as http:
        for body, field in cases:
            r = http.post("/api/checkout", json=body, headers=paywire_service.headers_for("u1"))
            assert r.status_code == 400, body
            assert r.json()["error"]["field"] == field, body
            assert r.json()["error"]["message"]
        for raw in (b"{not json", b"[1, 2]", b'"pro"'):
            r = http.post(
                "/api/checkout",
                content=raw,
                headers={
                    **paywire_service.headers_for("u1"),
                    "content-type": "application/json",
                },
            )
            assert r.status_code == 400
            assert "error" in r.json()
    _nothing_changed(paywire_service, stripe_client)


def test_an_existing_subscriber_is_sent_to_the_portal(
    paywire_service: Service, stripe_client: stripe.StripeClient
) -> None:
    with paywire_service.sessions() as session:
        mirror_subscription(session, "u1", plan="basic", status="active")
    with paywire_service.http() as http:
        r = http.post(
            "/api/checkout",
            json={"plan": "pro", "interval": "month"},
            headers=paywire_service.headers_for("u1"),
        )
    assert r.status_code == 409
    error = r.json()["error"]
    assert "portal" in error["message"] and error["code"] == "already_subscribed"
    assert stripe_client.v1.customers.list().data == []


def test_checkout_is_rate_limited_per_user_counting_only_accepted_checkouts(make_paywire_service) -> None:  # type: ignore[no-untyped-def]
    service: Service = make_paywire_service(PAYWIRE_CHECKOUT_RATE_LIMIT="3/minute")
    bad = {"plan": "gold", "interval": "month"}  # refused: no Stripe call, and no count either
    good = {"plan": "pro", "interval": "month"}
    u1 = service.headers_for("u1")
    with service.http() as http:
        assert [http.post("/api/checkout", json=bad, headers=u1).status_code for _ in range(5)] == [400] * 5
        assert [http.post("/api/checkout", json=good, headers=u1).status_code for _ in range(3)] == [200] * 3
        started = time.time()
        limited = http.post("/api/checkout", json=good, headers=u1)
        assert limited.status_code == 429
        error = limited.json()["error"]
        assert error["code"] == "rate_limited" and error["message"]
        # The real time left until the first accepted checkout leaves the one-minute window.
        assert 60 - (time.time() - started) - 5 <= int(limited.headers["retry-after"]) <= 60
        assert http.post("/api/checkout", json=bad, headers=u1).status_code == 429  # held back until then
        other = http.post("/api/checkout", json=good, headers=service.headers_for("u2"))
        assert other.status_code == 200  # another user has their own budget


def test_the_portal_needs_a_billing_account(paywire_service: Service) -> None:
    with paywire_service.http() as http:
        r = http.post("/api/billing-portal", headers=paywire_service.headers_for("nobody"))
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "no_billing_account"


def test_the_portal_opens_for_the_callers_own_customer(
    paywire_service: Service, stripe_client: stripe.StripeClient
) -> None:
    with paywire_service.http() as http:
        for user in ("u1", "u2"):
            started = http.post(
                "/api/checkout",
                json={"plan": "basic", "interval": "month"},
                headers=paywire_service.headers_for(user, f"{user}@example.com"),
            )
            assert started.status_code == 200, started.text
        r = http.post("/api/billing-portal", headers=paywire_service.headers_for("u1"))
    assert r.status_code == 200, r.text
    url = r.json()["url"]
    listed = stripe_client.v1.customers.list().data
    mine = next(c for c in listed if c.metadata["user_id"] == "u1")
    with httpx.Client(trust_env=False) as browser:
        page = browser.get(url)
    assert page.status_code == 200
    assert "u1@example.com" in page.text and "u2@example.com" not in page.text
    session_id = url.rstrip("/").rsplit("/", 1)[-1]
    assert session_id.startswith("bps_")
    with paywire_service.sessions() as db:
        row = customers.find_by_user(db, "u1")
    assert row is not None and row.stripe_customer_id == mine.id
