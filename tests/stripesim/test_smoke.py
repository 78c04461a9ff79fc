"""The simulator answers the SDK as Stripe would for the basic catalog resources."""

from __future__ import annotations

import pytest
import stripe

from tests.support.stripesim import Sim


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


def test_account_of_the_key(stripe_client: stripe.StripeClient) -> None:
    account = stripe_client.v1.accounts.retrieve_current()
    assert account.id.startswith("acct_") and account.object == "account"
    assert account.charges_enabled and account.default_currency == "usd"
    assert stripe_client.v1.accounts.retrieve(account.id).id == account.id


def test_includable_fields_appear_only_when_expanded(stripe_client: stripe.StripeClient) -> None:
    customer = stripe_client.v1.customers.create(params={"email": "i@example.com"})
    assert "sources" not in customer
    expanded = stripe_client.v1.customers.retrieve(customer.id, params={"expand": ["sources", "subscriptions"]})
    assert expanded.sources.object == "list" and expanded.sources.data == []
    assert expanded.subscriptions.data == []
    listed = stripe_client.v1.customers.list(params={"expand": ["data.sources"]})
    assert listed.data[0].sources.data == []

    product = stripe_client.v1.products.create(params={"name": "Pass"})
    price = stripe_client.v1.prices.create(params={"product": product.id, "currency": "usd", "unit_amount": 400})
    session = stripe_client.v1.checkout.sessions.create(
        params={"mode": "payment", "line_items": [{"price": price.id, "quantity": 2}], "success_url": "https://x/ok"}
    )
    with_items = stripe_client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["line_items"]})
    assert [(i.price.id, i.quantity, i.amount_total) for i in with_items.line_items.data] == [(price.id, 2, 800)]
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.customers.retrieve(customer.id, params={"expand": ["nonsense"]})


def test_a_sessions_total_details_breakdown_is_includable(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    """`expand[]=total_details.breakdown` (dj-stripe asks for it): the discounts with their
    Discount objects and the taxes with their rates, summing to the session's totals."""
    product = stripe_client.v1.products.create(params={"name": "Pro"})
    price = stripe_client.v1.prices.create(
        params={"product": product.id, "currency": "usd", "unit_amount": 2000, "recurring": {"interval": "month"}}
    )
    coupon = stripe_client.v1.coupons.create(params={"percent_off": 25, "duration": "forever"})
    customer = stripe_client.v1.customers.create(params={"email": "b@example.com"})
    for mode, line in (("subscription", {"price": price.id, "quantity": 1}), ("payment", None)):
        if line is None:
            one_time = stripe_client.v1.prices.create(
                params={"product": product.id, "currency": "usd", "unit_amount": 800}
            )
            line = {"price": one_time.id, "quantity": 1}
        session = stripe_client.v1.checkout.sessions.create(
            params={
                "mode": mode,
                "customer": customer.id,
                "line_items": [line],
                "discounts": [{"coupon": coupon.id}],
                "automatic_tax": {"enabled": True},
                "success_url": "https://x/ok",
            }
        )
        sim.complete_checkout(session.id)
        done = stripe_client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["total_details.breakdown"]})
        breakdown = done.total_details.breakdown
        [discount] = breakdown.discounts
        assert (discount.discount.object, discount.discount.source.coupon) == ("discount", coupon.id)
        assert discount.amount == done.total_details.amount_discount > 0
        [tax] = breakdown.taxes
        assert (tax.rate.object, tax.taxability_reason) == ("tax_rate", "standard_rated")
        assert tax.amount == done.total_details.amount_tax > 0
        assert tax.taxable_amount == done.amount_subtotal - done.total_details.amount_discount
        assert "breakdown" not in stripe_client.v1.checkout.sessions.retrieve(session.id).total_details
        listed = stripe_client.v1.checkout.sessions.list(
            params={"expand": ["data.total_details.breakdown"], "limit": 1}
        )
        assert listed.data[0].total_details.breakdown.discounts[0].amount == discount.amount
