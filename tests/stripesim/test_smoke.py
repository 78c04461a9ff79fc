"""The simulator answers the SDK as Stripe would for the basic catalog resources."""

from __future__ import annotations

import pytest
import stripe


def test_customer_round_trip(stripe_client: stripe.StripeClient) -> None:
    created = stripe_client.v1.customers.create(params={"email": "a@example.com", "metadata": {"user_id": "u1"}})
    assert created.id.startswith("cus_")
    fetched = stripe_client.v1.customers.retrieve(created.id)
    assert fetched.email == "a@example.com"
    assert fetched.metadata.to_dict() == {"user_id": "u1"}


def test_unknown_customer_is_resource_missing(stripe_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.customers.retrieve("cus_missing")
    assert info.value.http_status == 404
    assert info.value.code == "resource_missing"


def test_search_by_metadata_and_field(stripe_client: stripe.StripeClient) -> None:
    stripe_client.v1.customers.create(params={"email": "a@example.com", "metadata": {"user_id": "u1"}})
    stripe_client.v1.customers.create(params={"email": "b@example.com", "metadata": {"user_id": "u2"}})
    found = stripe_client.v1.customers.search(params={"query": "metadata['user_id']:'u2'"})
    assert [c.email for c in found.data] == ["b@example.com"]
    both = stripe_client.v1.customers.search(params={"query": "email:'a@example.com' AND metadata['user_id']:'u1'"})
    assert len(both.data) == 1
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.customers.search(params={"query": "email~'x'"})
    assert info.value.param == "query"
