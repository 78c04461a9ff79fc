"""POST /api/checkout against stripesim: what Stripe is asked for, and only once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import stripe
from sqlalchemy import func, select

from paywire.db.models import Customer
from paywire.db.repositories import customers, orders
from tests.paywire.conftest import Service
from tests.support.stripesim import Sim


def _checkout(service: Service, user: str, body: dict[str, Any], email: str | None = None) -> httpx.Response:
    with service.http() as http:
        return http.post("/api/checkout", json=body, headers=service.headers_for(user, email))


def test_a_subscription_checkout_is_built_from_the_catalog(
    paywire_service: Service, stripe_client: stripe.StripeClient
) -> None:
    r = _checkout(paywire_service, "u1", {"plan": "pro", "interval": "month", "quantity": 3}, "u1@x.io")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["url"].startswith("http")
    session = stripe_client.v1.checkout.sessions.retrieve(body["id"])
    assert session.mode == "subscription"
    assert session.client_reference_id == "u1"
    assert session.metadata["user_id"] == "u1" and session.metadata["plan"] == "pro"
    assert session.allow_promotion_codes is True
    assert session.success_url.startswith(paywire_service.url + "/billing/success")
    assert session.cancel_url.startswith(paywire_service.url + "/")
    (line,) = stripe_client.v1.checkout.sessions.line_items.list(body["id"]).data
    assert line.price.lookup_key == "pro_month" and line.price.unit_amount == 1000
    assert line.quantity == 3
    customer = stripe_client.v1.customers.retrieve(session.customer)
    assert customer.metadata["user_id"] == "u1" and customer.email == "u1@x.io"
    with paywire_service.sessions() as db:
        row = customers.find_by_user(db, "u1")
        assert row is not None and row.stripe_customer_id == customer.id


def test_a_repeated_request_gets_the_same_session(paywire_service: Service) -> None:
    first = _checkout(paywire_service, "u1", {"plan": "basic", "interval": "year"}).json()
    again = _checkout(paywire_service, "u1", {"plan": "basic", "interval": "year"}).json()
    other = _checkout(paywire_service, "u1", {"plan": "advanced", "interval": "year"}).json()
    assert first["id"] == again["id"] != other["id"]


def test_ten_concurrent_checkouts_of_a_new_user_make_one_customer(
    paywire_service: Service, stripe_client: stripe.StripeClient
) -> None:
    barrier = threading.Barrier(10)

    def attempt(_: int) -> httpx.Response:
        barrier.wait()
        return _checkout(paywire_service, "newbie", {"plan": "pro", "interval": "month"}, "n@x.io")

    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(attempt, range(10)))
    assert [r.status_code for r in responses] == [200] * 10, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    listed = stripe_client.v1.customers.list(params={"limit": 100}).data
    assert len(listed) == 1 and listed[0].metadata["user_id"] == "newbie"
    with paywire_service.sessions() as db:
        assert db.scalar(select(func.count()).select_from(Customer)) == 1


def test_the_pass_is_a_one_time_payment_with_a_pending_order(
    paywire_service: Service, stripe_client: stripe.StripeClient
) -> None:
    r = _checkout(paywire_service, "u1", {"product": "pass-3-months"})
    assert r.status_code == 200, r.text
    session = stripe_client.v1.checkout.sessions.retrieve(r.json()["id"])
    assert session.mode == "payment" and session.metadata["product"] == "pass-3-months"
    (line,) = stripe_client.v1.checkout.sessions.line_items.list(session.id).data
    assert line.price.unit_amount == 400 and line.price.recurring is None
    with paywire_service.sessions() as db:
        order = orders.find_by_checkout_session(db, session.id)
        assert order is not None and order.status == "pending" and order.grants_plan == "basic"


def test_automatic_tax_when_configured(
    make_paywire_service: Callable[..., Service], stripe_client: stripe.StripeClient
) -> None:
    service = make_paywire_service(PAYWIRE_AUTOMATIC_TAX=True)
    r = _checkout(service, "u1", {"plan": "basic", "interval": "month"})
    assert r.status_code == 200, r.text
    assert stripe_client.v1.checkout.sessions.retrieve(r.json()["id"]).automatic_tax.enabled is True
    plain = _checkout(service, "u2", {"plan": "basic", "interval": "month"})
    assert plain.status_code == 200


def _subscriptions_of(client: stripe.StripeClient, customer: str) -> list[Any]:
    return list(client.v1.subscriptions.list(params={"customer": customer, "status": "all"}).data)


def test_the_trial_is_given_once(
    make_paywire_service: Callable[..., Service], sim: Sim, stripe_client: stripe.StripeClient
) -> None:
    service = make_paywire_service(with_worker=False, PAYWIRE_TRIAL_DAYS=7)
    first = _checkout(service, "u1", {"plan": "basic", "interval": "month"}).json()
    assert sim.complete_checkout(first["id"]).status_code < 400
    customer = stripe_client.v1.checkout.sessions.retrieve(first["id"]).customer
    (sub,) = _subscriptions_of(stripe_client, customer)
    assert sub.status == "trialing"

    # The subscription is canceled; the trial stays used (the mirror would record it).
    stripe_client.v1.subscriptions.cancel(sub.id)
    with service.sessions() as db:
        customers.mark_trial_used(db, "u1")
        db.commit()
    second = _checkout(service, "u1", {"plan": "advanced", "interval": "month"}).json()
    assert sim.complete_checkout(second["id"]).status_code < 400
    newest = max(_subscriptions_of(stripe_client, customer), key=lambda s: s.created)
    assert newest.id != sub.id and newest.status == "active" and newest.trial_end is None


def test_a_subscriber_found_only_in_stripe_is_refused(make_paywire_service: Callable[..., Service], sim: Sim) -> None:
    # The webhook has not been processed (no worker): the mirror knows nothing yet.
    service = make_paywire_service(with_worker=False)
    first = _checkout(service, "u1", {"plan": "pro", "interval": "month"}).json()
    assert sim.complete_checkout(first["id"]).status_code < 400
    again = _checkout(service, "u1", {"plan": "advanced", "interval": "year"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_subscribed"


def test_a_declined_card_creates_no_subscription(
    paywire_service: Service, sim: Sim, stripe_client: stripe.StripeClient
) -> None:
    started = _checkout(paywire_service, "u1", {"plan": "pro", "interval": "month"}).json()
    sim.complete_checkout(started["id"], card="4000000000000002")
    customer = stripe_client.v1.checkout.sessions.retrieve(started["id"]).customer
    live = [s for s in _subscriptions_of(stripe_client, customer) if s.status in ("active", "trialing")]
    assert live == []
    with paywire_service.http() as http:
        billing = http.get("/api/billing", headers=paywire_service.headers_for("u1")).json()
    assert billing["access"] is False and billing["plan"] is None
