"""Coupons, promotion codes and tax rates through the official SDK."""

from __future__ import annotations

import time

import pytest
import stripe

from tests.stripesim.waiting import wait_until
from tests.support.stripesim import Sim


def _events(client: stripe.StripeClient, event_type: str) -> list[stripe.Event]:
    return list(client.v1.events.list(params={"type": event_type, "limit": 100}).data)


def test_coupon_create_retrieve_update_delete(stripe_client: stripe.StripeClient) -> None:
    c = stripe_client.v1.coupons.create(
        params={
            "percent_off": 25.5,
            "duration": "repeating",
            "duration_in_months": 3,
            "name": "Launch",
            "metadata": {"campaign": "fall"},
            "max_redemptions": 10,
        }
    )
    assert len(c.id) == 8 and c.object == "coupon"
    assert c.percent_off == 25.5 and c.amount_off is None and c.currency is None
    assert c.duration == "repeating" and c.duration_in_months == 3
    assert c.valid is True and c.times_redeemed == 0 and c.max_redemptions == 10
    assert c.livemode is False and c.redeem_by is None
    assert "applies_to" not in c  # includable: only with expand[]
    got = stripe_client.v1.coupons.retrieve(c.id)
    assert got.to_dict() == c.to_dict()
    updated = stripe_client.v1.coupons.update(c.id, params={"name": "Renamed", "metadata": {"x": "1"}})
    assert updated.name == "Renamed"
    assert updated.metadata.to_dict() == {"campaign": "fall", "x": "1"}
    event = _events(stripe_client, "coupon.updated")[0]
    assert event.data.previous_attributes.to_dict() == {"name": "Launch", "metadata": {"x": None}}
    gone = stripe_client.v1.coupons.delete(c.id)
    assert gone.to_dict() == {"id": c.id, "object": "coupon", "deleted": True}
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.coupons.retrieve(c.id)
    assert info.value.http_status == 404 and info.value.code == "resource_missing"
    types = [e.type for e in stripe_client.v1.events.list(params={"limit": 10}).data]
    assert types[:3] == ["coupon.deleted", "coupon.updated", "coupon.created"]


def test_coupon_with_custom_id_amount_off_and_applies_to(
    stripe_client: stripe.StripeClient,
) -> None:
    product = stripe_client.v1.products.create(params={"name": "Pro"})
    c = stripe_client.v1.coupons.create(
        params={
            "id": "FIVEOFF",
            "amount_off": 500,
            "currency": "USD",
            "duration": "once",
            "applies_to": {"products": [product.id]},
            "currency_options": {"eur": {"amount_off": 450}},
        }
    )
    assert c.id == "FIVEOFF" and c.amount_off == 500 and c.currency == "usd"
    assert "applies_to" not in c
    shown = stripe_client.v1.coupons.retrieve("FIVEOFF", params={"expand": ["applies_to", "currency_options"]})
    assert shown.applies_to.products == [product.id]
    assert shown.currency_options["eur"].amount_off == 450
    listed = stripe_client.v1.coupons.list(params={"expand": ["data.applies_to"]})
    assert listed.data[0].applies_to.products == [product.id]
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.coupons.create(params={"id": "FIVEOFF", "percent_off": 5})
    assert info.value.code == "resource_already_exists" and info.value.param == "id"


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        ({}, "percent_off", "exactly one"),
        ({"percent_off": 10, "amount_off": 100, "currency": "usd"}, "amount_off", "exactly one"),
        ({"amount_off": 100}, "currency", "currency"),
        ({"percent_off": 0}, "percent_off", "greater than 0"),
        ({"percent_off": 101}, "percent_off", "at most 100"),
        ({"percent_off": 10, "duration": "repeating"}, "duration_in_months", "duration_in_months"),
        ({"percent_off": 10, "duration_in_months": 2}, "duration_in_months", "repeating"),
        ({"percent_off": 10, "duration": "weekly"}, "duration", "must be one of"),
        ({"percent_off": 10, "redeem_by": 1000}, "redeem_by", "future"),
        ({"percent_off": 10, "max_redemptions": 0}, "max_redemptions", "greater than"),
        (
            {"percent_off": 10, "applies_to": {"products": ["prod_nope"]}},
            "applies_to[products][0]",
            "No such product",
        ),
        ({"percent_off": 10, "bogus": 1}, "bogus", "unknown parameter"),
    ],
)
def test_coupon_validation(
    stripe_client: stripe.StripeClient, params: dict[str, object], param: str, message: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.coupons.create(params=params)  # type: ignore[arg-type]
    assert info.value.param == param
    assert message in str(info.value.user_message)


def test_coupon_list_paginates_newest_first(stripe_client: stripe.StripeClient) -> None:
    ids = [stripe_client.v1.coupons.create(params={"percent_off": i + 1}).id for i in range(5)]
    page = stripe_client.v1.coupons.list(params={"limit": 2})
    assert [c.id for c in page.data] == ids[::-1][:2] and page.has_more
    rest = stripe_client.v1.coupons.list(params={"limit": 10, "starting_after": page.data[-1].id})
    assert [c.id for c in rest.data] == ids[::-1][2:] and not rest.has_more
    assert [c.id for c in stripe_client.v1.coupons.list().auto_paging_iter()] == ids[::-1]


def test_coupon_redeem_by_turns_it_invalid(stripe_client: stripe.StripeClient) -> None:
    c = stripe_client.v1.coupons.create(params={"percent_off": 10, "redeem_by": int(time.time()) + 2})
    assert c.valid is True
    wait_until(lambda: stripe_client.v1.coupons.retrieve(c.id).valid is False, timeout=10)
    assert stripe_client.v1.coupons.retrieve(c.id).valid is False
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.promotion_codes.create(params={"promotion": {"type": "coupon", "coupon": c.id}})
    assert info.value.code == "coupon_expired"


def test_promotion_code_lifecycle(stripe_client: stripe.StripeClient) -> None:
    c = stripe_client.v1.coupons.create(params={"percent_off": 20, "duration": "once"})
    cus = stripe_client.v1.customers.create(params={"email": "p@example.com"})
    expires = int(time.time()) + 3600
    p = stripe_client.v1.promotion_codes.create(
        params={
            "promotion": {"type": "coupon", "coupon": c.id},
            "code": "Fall20",
            "customer": cus.id,
            "expires_at": expires,
            "max_redemptions": 5,
            "metadata": {"k": "v"},
            "restrictions": {
                "first_time_transaction": True,
                "minimum_amount": 1000,
                "minimum_amount_currency": "usd",
            },
        }
    )
    assert p.id.startswith("promo_") and p.object == "promotion_code"
    assert p.code == "Fall20" and p.active is True and p.customer == cus.id
    assert p.promotion.type == "coupon" and p.promotion.coupon == c.id
    assert p.expires_at == expires and p.max_redemptions == 5 and p.times_redeemed == 0
    assert p.restrictions.first_time_transaction is True
    assert p.restrictions.minimum_amount == 1000 and p.restrictions.minimum_amount_currency == "usd"
    assert p.customer_account is None
    expanded = stripe_client.v1.promotion_codes.retrieve(p.id, params={"expand": ["promotion.coupon", "customer"]})
    assert expanded.promotion.coupon.id == c.id and expanded.promotion.coupon.percent_off == 20
    assert expanded.customer.email == "p@example.com"
    off = stripe_client.v1.promotion_codes.update(p.id, params={"active": False})
    assert off.active is False
    event = _events(stripe_client, "promotion_code.updated")[0]
    assert event.data.previous_attributes.to_dict() == {"active": True}
    assert _events(stripe_client, "promotion_code.created")[0].data.object.id == p.id


def test_promotion_code_generated_code_and_uniqueness(stripe_client: stripe.StripeClient) -> None:
    c = stripe_client.v1.coupons.create(params={"percent_off": 5})
    generated = stripe_client.v1.promotion_codes.create(params={"promotion": {"type": "coupon", "coupon": c.id}})
    assert generated.code and generated.code.isalnum()
    stripe_client.v1.promotion_codes.create(params={"promotion": {"type": "coupon", "coupon": c.id}, "code": "SAVE"})
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.promotion_codes.create(
            params={"promotion": {"type": "coupon", "coupon": c.id}, "code": "save"}
        )
    assert info.value.param == "code"
    # An inactive code with the same text may exist, but cannot be reactivated while one is live.
    dup = stripe_client.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": c.id}, "code": "save", "active": False}
    )
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.promotion_codes.update(dup.id, params={"active": True})
    assert info.value.param == "active"


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"promotion": {"type": "coupon", "coupon": "NOPE"}}, "promotion[coupon]"),
        ({"promotion": {"type": "coupon"}}, "promotion[coupon]"),
        ({"code": "has space"}, "code"),
        ({"code": "under_score"}, "code"),
        ({"expires_at": 1000}, "expires_at"),
        ({"customer": "cus_missing"}, "customer"),
        ({"restrictions": {"minimum_amount": 100}}, "restrictions[minimum_amount_currency]"),
    ],
)
def test_promotion_code_validation(stripe_client: stripe.StripeClient, extra: dict[str, object], param: str) -> None:
    c = stripe_client.v1.coupons.create(params={"percent_off": 5})
    params: dict[str, object] = {"promotion": {"type": "coupon", "coupon": c.id}, **extra}
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.promotion_codes.create(params=params)  # type: ignore[arg-type]
    assert info.value.param == param


def test_promotion_code_expires_at_cannot_outlive_coupon(
    stripe_client: stripe.StripeClient,
) -> None:
    now = int(time.time())
    c = stripe_client.v1.coupons.create(params={"percent_off": 5, "redeem_by": now + 100})
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.promotion_codes.create(
            params={"promotion": {"type": "coupon", "coupon": c.id}, "expires_at": now + 200}
        )
    assert info.value.param == "expires_at"


def test_promotion_code_list_filters(stripe_client: stripe.StripeClient) -> None:
    a = stripe_client.v1.coupons.create(params={"percent_off": 5})
    b = stripe_client.v1.coupons.create(params={"percent_off": 6})
    cus = stripe_client.v1.customers.create()
    pa = stripe_client.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": a.id}, "code": "AAA"}
    )
    pb = stripe_client.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": b.id}, "code": "BBB", "customer": cus.id}
    )
    pc = stripe_client.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": a.id}, "code": "CCC", "active": False}
    )

    def ids(**params: object) -> list[str]:
        return [p.id for p in stripe_client.v1.promotion_codes.list(params=params).data]  # type: ignore[arg-type]

    assert ids() == [pc.id, pb.id, pa.id]
    assert ids(code="aaa") == [pa.id]
    assert ids(coupon=a.id) == [pc.id, pa.id]
    assert ids(customer=cus.id) == [pb.id]
    assert ids(active=False) == [pc.id]
    assert ids(active=True, coupon=a.id) == [pa.id]


def test_tax_rate_lifecycle(stripe_client: stripe.StripeClient) -> None:
    r = stripe_client.v1.tax_rates.create(
        params={
            "display_name": "VAT",
            "percentage": 19,
            "inclusive": False,
            "country": "de",
            "jurisdiction": "DE",
            "description": "VAT Germany",
            "tax_type": "vat",
            "metadata": {"a": "b"},
        }
    )
    assert r.id.startswith("txr_") and r.object == "tax_rate"
    assert r.percentage == 19 and r.effective_percentage == 19 and r.inclusive is False
    assert r.country == "DE" and r.state is None and r.tax_type == "vat" and r.active is True
    assert r.rate_type == "percentage" and r.flat_amount is None
    inclusive = stripe_client.v1.tax_rates.create(
        params={"display_name": "GST", "percentage": 7.5, "inclusive": True, "state": "CA"}
    )
    assert inclusive.percentage == 7.5 and inclusive.state == "CA"
    archived = stripe_client.v1.tax_rates.update(r.id, params={"active": False, "display_name": "MwSt"})
    assert archived.active is False and archived.display_name == "MwSt"
    assert stripe_client.v1.tax_rates.retrieve(r.id).display_name == "MwSt"
    assert [x.id for x in stripe_client.v1.tax_rates.list(params={"active": True}).data] == [inclusive.id]
    assert [x.id for x in stripe_client.v1.tax_rates.list(params={"inclusive": False}).data] == [r.id]
    types = [e.type for e in stripe_client.v1.events.list(params={"limit": 3}).data]
    assert types == ["tax_rate.updated", "tax_rate.created", "tax_rate.created"]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"percentage": 10, "inclusive": False}, "display_name"),
        ({"display_name": "X", "inclusive": False}, "percentage"),
        ({"display_name": "X", "percentage": 10}, "inclusive"),
        ({"display_name": "X", "percentage": 101, "inclusive": False}, "percentage"),
        (
            {"display_name": "X", "percentage": 10, "inclusive": False, "tax_type": "poll"},
            "tax_type",
        ),
        (
            {"display_name": "X", "percentage": 10, "inclusive": False, "percentage_x": 1},
            "percentage_x",
        ),
    ],
)
def test_tax_rate_validation(stripe_client: stripe.StripeClient, params: dict[str, object], param: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.tax_rates.create(params=params)  # type: ignore[arg-type]
    assert info.value.param == param and info.value.http_status == 400


def test_tax_rate_percentage_is_immutable(stripe_client: stripe.StripeClient) -> None:
    r = stripe_client.v1.tax_rates.create(params={"display_name": "X", "percentage": 5, "inclusive": False})
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.tax_rates.update(r.id, params={"percentage": 6})  # type: ignore[typeddict-unknown-key]
    assert info.value.param == "percentage"


def test_unknown_ids_are_resource_missing(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    for call in (
        lambda: stripe_client.v1.coupons.retrieve("NOPE"),
        lambda: stripe_client.v1.promotion_codes.retrieve("promo_nope"),
        lambda: stripe_client.v1.tax_rates.retrieve("txr_nope"),
    ):
        with pytest.raises(stripe.InvalidRequestError) as info:
            call()
        assert info.value.http_status == 404 and info.value.code == "resource_missing"


def test_promotion_code_text_is_unique_per_customer(stripe_client: stripe.StripeClient) -> None:
    c = stripe_client.v1.coupons.create(params={"percent_off": 5})
    a, b = stripe_client.v1.customers.create(), stripe_client.v1.customers.create()
    promotion = {"type": "coupon", "coupon": c.id}
    stripe_client.v1.promotion_codes.create(params={"promotion": promotion, "code": "VIP"})
    # The same text may be active once per customer it is restricted to.
    stripe_client.v1.promotion_codes.create(params={"promotion": promotion, "code": "vip", "customer": a.id})
    stripe_client.v1.promotion_codes.create(params={"promotion": promotion, "code": "Vip", "customer": b.id})
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.promotion_codes.create(params={"promotion": promotion, "code": "VIP", "customer": a.id})
    assert info.value.param == "code"
    assert len(stripe_client.v1.promotion_codes.list(params={"code": "vip"}).data) == 3
