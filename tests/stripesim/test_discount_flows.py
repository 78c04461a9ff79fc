"""Coupons and promotion codes applied by the billing engine, end to end through the SDK:
which invoices a once / repeating / forever discount reduces, redemption limits, and the
first-time-transaction restriction."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import stripe

from tests.support.stripesim import Sim

START = int(datetime(2026, 1, 15, tzinfo=UTC).timestamp())


def _month(n: int) -> int:
    return int(datetime(2026, 1 + n, 15, 12, tzinfo=UTC).timestamp())


def _customer(c: stripe.StripeClient, clock: str | None = None) -> stripe.Customer:
    params = {"email": "d@example.com", **({"test_clock": clock} if clock else {})}
    cus = c.v1.customers.create(params=params)  # type: ignore[arg-type]
    pm = c.v1.payment_methods.create(params={"type": "card", "card": {"token": "tok_visa"}})
    c.v1.payment_methods.attach(pm.id, params={"customer": cus.id})
    c.v1.customers.update(cus.id, params={"invoice_settings": {"default_payment_method": pm.id}})
    return cus


def _price(c: stripe.StripeClient, amount: int = 2000) -> stripe.Price:
    product = c.v1.products.create(params={"name": "Plan"})
    return c.v1.prices.create(
        params={"product": product.id, "currency": "usd", "unit_amount": amount, "recurring": {"interval": "month"}}
    )


def _invoices(c: stripe.StripeClient, sub: str) -> list[stripe.Invoice]:
    """The subscription's invoices, oldest first."""
    return list(reversed(c.v1.invoices.list(params={"subscription": sub, "limit": 100}).data))


@pytest.mark.parametrize(
    ("coupon", "discounted"),
    [
        ({"percent_off": 25, "duration": "once"}, [500, 0, 0]),
        ({"percent_off": 25, "duration": "repeating", "duration_in_months": 2}, [500, 500, 0]),
        ({"amount_off": 300, "currency": "usd", "duration": "forever"}, [300, 300, 300]),
    ],
    ids=["once", "repeating-2", "forever"],
)
def test_which_invoices_a_discount_reduces(
    sim: Sim, stripe_client: stripe.StripeClient, coupon: dict[str, object], discounted: list[int]
) -> None:
    clock = stripe_client.v1.test_helpers.test_clocks.create(params={"frozen_time": START})
    cus = _customer(stripe_client, clock.id)
    price = _price(stripe_client)
    c = stripe_client.v1.coupons.create(params=coupon)  # type: ignore[arg-type]
    sub = stripe_client.v1.subscriptions.create(
        params={"customer": cus.id, "items": [{"price": price.id}], "discounts": [{"coupon": c.id}]}
    )
    for n in (1, 2):
        sim.advance(stripe_client, clock.id, _month(n))
    invoices = _invoices(stripe_client, sub.id)
    assert len(invoices) == 3
    amounts = [sum(d.amount for d in inv.total_discount_amounts) for inv in invoices]
    assert amounts == discounted
    assert [inv.total for inv in invoices] == [2000 - d for d in discounted]
    assert stripe_client.v1.coupons.retrieve(c.id).times_redeemed == 1


def test_discount_object_and_events(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    cus = _customer(stripe_client)
    price = _price(stripe_client)
    c = stripe_client.v1.coupons.create(params={"percent_off": 10, "duration": "repeating", "duration_in_months": 3})
    code = stripe_client.v1.promotion_codes.create(params={"promotion": {"type": "coupon", "coupon": c.id}})
    sub = stripe_client.v1.subscriptions.create(
        params={
            "customer": cus.id,
            "items": [{"price": price.id}],
            "discounts": [{"promotion_code": code.id}],
        }
    )
    created = stripe_client.v1.events.list(params={"type": "customer.discount.created"}).data
    assert len(created) == 1
    discount = created[0].data.object
    assert sub.discounts == [discount.id]
    assert discount.object == "discount" and discount.id.startswith("di_")
    assert discount.source.coupon == c.id and discount.source.type == "coupon"
    assert discount.promotion_code == code.id
    assert discount.subscription == sub.id
    assert discount.customer == cus.id and discount.end is not None and discount.end > discount.start
    assert stripe_client.v1.promotion_codes.retrieve(code.id).times_redeemed == 1
    assert stripe_client.v1.coupons.retrieve(c.id).times_redeemed == 1


def test_max_redemptions_across_subscriptions(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    price = _price(stripe_client)
    c = stripe_client.v1.coupons.create(params={"percent_off": 10, "max_redemptions": 1})
    first = _customer(stripe_client)
    stripe_client.v1.subscriptions.create(
        params={"customer": first.id, "items": [{"price": price.id}], "discounts": [{"coupon": c.id}]}
    )
    assert stripe_client.v1.coupons.retrieve(c.id).valid is False
    second = _customer(stripe_client)
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.subscriptions.create(
            params={"customer": second.id, "items": [{"price": price.id}], "discounts": [{"coupon": c.id}]}
        )
    assert info.value.code == "coupon_expired" and info.value.param == "discounts[0][coupon]"
    assert stripe_client.v1.subscriptions.list(params={"customer": second.id}).data == []


def test_first_time_transaction_code(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    price = _price(stripe_client)
    c = stripe_client.v1.coupons.create(params={"percent_off": 50})
    code = stripe_client.v1.promotion_codes.create(
        params={
            "promotion": {"type": "coupon", "coupon": c.id},
            "code": "WELCOME",
            "restrictions": {"first_time_transaction": True},
        }
    )
    cus = _customer(stripe_client)
    stripe_client.v1.subscriptions.create(params={"customer": cus.id, "items": [{"price": price.id}]})
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.subscriptions.create(
            params={"customer": cus.id, "items": [{"price": price.id}], "discounts": [{"promotion_code": code.id}]}
        )
    assert info.value.param == "discounts[0][promotion_code]"
    assert "prior transactions" in str(info.value.user_message)
    newcomer = _customer(stripe_client)
    sub = stripe_client.v1.subscriptions.create(
        params={
            "customer": newcomer.id,
            "items": [{"price": price.id}],
            "discounts": [{"promotion_code": code.id}],
            "expand": ["latest_invoice"],
        }
    )
    assert sub.latest_invoice.total == 1000
