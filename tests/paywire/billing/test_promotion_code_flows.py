"""Promotion codes on an existing subscription: applied, and each kind of refusal with its
own message and nothing written to Stripe."""

from __future__ import annotations

from typing import Any

import stripe

from tests.paywire.billing.subscribers import (
    DAY,
    MAR_1,
    Subscriber,
    assert_mirror_matches_stripe,
    event_count,
    on_a_clock,
    subscribed,
)
from tests.paywire.conftest import Service
from tests.support.stripesim import Sim

HOUR = 3600
# The expiry test needs a customer whose time is ahead of real time (codes expire in the
# future when created): 2030-01-01.
Y2030 = 1_893_456_000


def promotion_code(client: stripe.StripeClient, code: str, coupon: dict[str, Any], **params: Any) -> Any:
    created = client.v1.coupons.create(params=coupon)
    return client.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": created.id}, "code": code, **params}
    )


def refused(subscriber: Subscriber, code: str) -> dict[str, Any]:
    subscriber.settle()  # earlier changes' webhooks re-read the row: let them land first
    events = event_count(subscriber.sim)
    version = subscriber.mirror().stripe_version
    response = subscriber.post("/api/subscription/discount", {"promotion_code": code})
    assert response.status_code == 400, response.text
    assert event_count(subscriber.sim) == events, f"{code}: something was written to Stripe"
    assert subscriber.mirror().stripe_version == version, f"{code}: the mirror changed"
    error: dict[str, Any] = response.json()["error"]
    assert error["field"] == "promotion_code"
    return error


def test_a_promotion_code_discounts_the_next_renewals(paywire_service: Service, sim: Sim) -> None:
    rae = subscribed(paywire_service, sim, "rae", "pro")
    promotion_code(sim.client(), "SAVE20", {"percent_off": 20, "duration": "forever"})

    applied = rae.ok("/api/subscription/discount", {"promotion_code": "save20"})  # case-insensitive, as Stripe

    assert applied["discount"]["promotion_code"] == "SAVE20" and applied["discount"]["percent_off"] == 20
    assert rae.stripe_subscription()["discounts"]
    assert_mirror_matches_stripe(rae)
    assert refused(rae, "SAVE20")["reason"] == "already_applied"
    rae.advance(MAR_1 + 2 * HOUR)
    assert rae.latest_invoice()["amount_paid"] == 800


def test_unknown_exhausted_inapplicable_and_other_customers_codes_are_refused(
    paywire_service: Service, sim: Sim
) -> None:
    sam = subscribed(paywire_service, sim, "sam", "basic", advance_to=None)
    tia = subscribed(paywire_service, sim, "tia", "basic", advance_to=None)
    client = sim.client()
    promotion_code(client, "ONCE", {"percent_off": 10, "duration": "once"}, max_redemptions=1)
    promotion_code(
        client,
        "ADVONLY",
        {"percent_off": 10, "duration": "once", "applies_to": {"products": ["paywire_plan_advanced"]}},
    )
    tia_customer = tia.stripe_subscription()["customer"]
    promotion_code(client, "TIAONLY", {"percent_off": 10, "duration": "once"}, customer=tia_customer)
    promotion_code(
        client,
        "BIGSPEND",
        {"percent_off": 10, "duration": "once"},
        restrictions={"minimum_amount": 5000, "minimum_amount_currency": "usd"},
    )
    promotion_code(client, "OFF", {"percent_off": 10, "duration": "once"}, active=False)
    tia.ok("/api/subscription/discount", {"promotion_code": "ONCE"})

    assert refused(sam, "NOPE")["reason"] == "unknown"
    assert refused(sam, "")["reason"] == "unknown"
    assert refused(sam, "TIAONLY")["reason"] == "unknown"  # another customer's code is no code at all
    exhausted = refused(sam, "ONCE")
    assert exhausted["reason"] == "exhausted" and "used up" in exhausted["message"]
    inapplicable = refused(sam, "ADVONLY")
    assert inapplicable["reason"] == "inapplicable" and "Basic" in inapplicable["message"]
    assert refused(sam, "BIGSPEND")["reason"] == "inapplicable"
    assert refused(sam, "OFF")["reason"] == "expired"
    assert (
        tia.ok("/api/subscription/discount", {"promotion_code": "TIAONLY"})["discount"]["promotion_code"] == "TIAONLY"
    )


def test_an_expired_code_is_refused_in_the_customers_time(paywire_service: Service, sim: Sim) -> None:
    uma = on_a_clock(paywire_service, sim, "uma", start=Y2030)
    uma.subscribe("basic")
    promotion_code(sim.client(), "SOON", {"percent_off": 10, "duration": "once"}, expires_at=Y2030 + 5 * DAY)
    uma.advance(Y2030 + 10 * DAY)

    error = refused(uma, "SOON")

    assert error["reason"] == "expired" and "expired" in error["message"]
