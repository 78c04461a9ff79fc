from __future__ import annotations

import json

import pytest
import stripe

from paywire.metrics import STRIPE_API_ERRORS
from paywire.stripe import (
    Kind,
    StripeGateway,
    StripeIdempotencyConflict,
    StripeNotFound,
    StripeRejected,
)
from paywire.stripe import idempotency as keys
from tests.support.stripesim import Sim


def _errors(kind: str) -> float:
    return STRIPE_API_ERRORS.labels(type=kind)._value.get()


def test_a_created_customer_carries_the_user_id(gateway: StripeGateway, stripe_client: stripe.StripeClient) -> None:
    created = gateway.create_customer(
        user_id="u-1", email="u1@example.com", idempotency_key=keys.customer_create("u-1")
    )
    assert isinstance(created, dict)
    fetched = stripe_client.v1.customers.retrieve(created["id"])
    assert fetched.metadata["user_id"] == "u-1"
    assert fetched.email == "u1@example.com"


def test_the_same_business_key_creates_one_customer(gateway: StripeGateway, stripe_client: stripe.StripeClient) -> None:
    key = keys.customer_create("u-2")
    first = gateway.create_customer(user_id="u-2", email="a@x.io", idempotency_key=key)
    second = gateway.create_customer(user_id="u-2", email="a@x.io", idempotency_key=key)
    assert first["id"] == second["id"]
    assert len(stripe_client.v1.customers.list().data) == 1


def test_a_key_reused_with_other_parameters_is_a_conflict(gateway: StripeGateway) -> None:
    key = keys.customer_create("u-3")
    gateway.create_customer(user_id="u-3", email="a@x.io", idempotency_key=key)
    with pytest.raises(StripeIdempotencyConflict):
        gateway.create_customer(user_id="u-3", email="b@x.io", idempotency_key=key)


def test_unknown_objects_are_not_found(gateway: StripeGateway) -> None:
    before = _errors("not_found")
    with pytest.raises(StripeNotFound):
        gateway.retrieve(Kind.SUBSCRIPTION, "sub_missing")
    assert gateway.retrieve_product("prod_missing") is None
    assert _errors("not_found") - before == 2


def test_invalid_parameters_are_rejected_naming_the_param(gateway: StripeGateway) -> None:
    with pytest.raises(StripeRejected) as error:
        gateway.create_price(
            product_id="prod_missing",
            lookup_key="x",
            unit_amount=100,
            currency="usd",
            interval="fortnight",
            metadata={},
            transfer_lookup_key=False,
            idempotency_key="test:bad-price",
        )
    assert error.value.param is not None


def test_lookup_keys_are_listed_in_chunks(gateway: StripeGateway, sim: Sim) -> None:
    client = sim.client()
    client.v1.products.create(params={"id": "prod_many", "name": "Many"})
    wanted = [f"key_{i:02d}" for i in range(23)]
    for key in wanted:
        client.v1.prices.create(
            params={
                "product": "prod_many",
                "currency": "usd",
                "unit_amount": 100,
                "lookup_key": key,
            }
        )
    found = gateway.list_prices_by_lookup_keys([*wanted, "absent"])
    assert sorted(found) == wanted
    assert found["key_07"]["product"]["id"] == "prod_many"  # expanded


def test_idempotency_keys_name_the_operation() -> None:
    assert keys.customer_create("u1") == "customer:create:u1"
    assert keys.checkout_subscription("u1", "pro", "month", 3, 42) == "checkout:u1:pro:month:3:42:"
    long_key = keys.customer_create("u" * 400)
    assert len(long_key) <= 255 and long_key.startswith("customer:create:sha256:")
    assert keys.time_bucket(1199) == keys.time_bucket(600) != keys.time_bucket(1200)


def test_results_are_plain_json_ready_dicts(gateway: StripeGateway, sim: Sim) -> None:
    client = sim.client()
    client.v1.products.create(params={"id": "prod_dec", "name": "Decimal"})
    client.v1.prices.create(params={"product": "prod_dec", "currency": "usd", "unit_amount": 1234, "lookup_key": "dec"})
    price = gateway.list_prices_by_lookup_keys(["dec"])["dec"]
    assert price["unit_amount_decimal"] == "1234"  # a string, as on the wire: not a Decimal
    assert json.loads(json.dumps(price))["product"]["id"] == "prod_dec"
