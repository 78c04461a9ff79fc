from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import stripe
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from paywire.billing.customers import get_or_create_customer
from paywire.db.models import Customer
from paywire.stripe import StripeGateway
from tests.support.stripesim import Sim


def test_a_customer_is_created_once_and_remembered(
    session: Session, gateway: StripeGateway, stripe_client: stripe.StripeClient
) -> None:
    first = get_or_create_customer(session, gateway, user_id="u1", email="u1@example.com")
    again = get_or_create_customer(session, gateway, user_id="u1", email="u1@example.com")
    assert first.stripe_customer_id == again.stripe_customer_id
    in_stripe = stripe_client.v1.customers.list().data
    assert [c.id for c in in_stripe] == [first.stripe_customer_id]
    assert in_stripe[0].metadata["user_id"] == "u1"


def test_ten_concurrent_requests_converge_on_one_stripe_customer(
    session_factory: sessionmaker[Session], sim: Sim, stripe_client: stripe.StripeClient
) -> None:
    barrier = threading.Barrier(10)

    def racer(_: int) -> str:
        gateway = StripeGateway("sk_test_paywire_test_suite_key", api_base=sim.url)
        with session_factory() as session:
            barrier.wait()
            row = get_or_create_customer(session, gateway, user_id="racer", email="r@x.io")
            return row.stripe_customer_id

    with ThreadPoolExecutor(10) as pool:
        ids = set(pool.map(racer, range(10)))
    assert len(ids) == 1
    listed = stripe_client.v1.customers.list(params={"limit": 100}).data
    assert [c.id for c in listed] == list(ids)
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 1


def test_a_changed_email_adopts_the_existing_customer(
    session_factory: sessionmaker[Session],
    gateway: StripeGateway,
    stripe_client: stripe.StripeClient,
) -> None:
    # A first attempt created the Stripe customer but its row was lost (e.g. a crash).
    created = gateway.create_customer(user_id="u9", email="old@x.io", idempotency_key="customer:create:u9")
    with session_factory() as session:
        row = get_or_create_customer(session, gateway, user_id="u9", email="new@x.io")
    assert row.stripe_customer_id == created["id"]
    assert len(stripe_client.v1.customers.list().data) == 1


def test_test_clocks_attach_in_test_mode_only(
    session: Session, gateway: StripeGateway, stripe_client: stripe.StripeClient, sim: Sim
) -> None:
    clock = stripe_client.v1.test_helpers.test_clocks.create(params={"frozen_time": 1_900_000_000})
    row = get_or_create_customer(session, gateway, user_id="u1", email=None, test_clock=clock.id)
    assert row.test_clock_id == clock.id
    assert stripe_client.v1.customers.retrieve(row.stripe_customer_id).test_clock == clock.id
    live = StripeGateway("sk_live_" + "not-a-real-key", api_base=sim.url)
    with pytest.raises(ValueError, match="test mode"):
        get_or_create_customer(session, live, user_id="u2", email=None, test_clock=clock.id)
