"""`catalog push` configures Stripe's customer portal from the catalog so plans can be switched
there, and the portal sessions paywire opens use that configuration."""

from __future__ import annotations

import httpx
import stripe

from paywire.catalog import Catalog
from paywire.catalog.portal import find_configuration
from paywire.catalog.sync import push
from paywire.stripe import StripeGateway
from tests.paywire.billing.subscribers import subscribed
from tests.paywire.conftest import Service
from tests.support.stripesim import Sim


def test_push_creates_then_keeps_a_plan_switching_configuration(
    catalog: Catalog, gateway: StripeGateway, stripe_client: stripe.StripeClient
) -> None:
    first = [c for c in push(catalog, gateway) if c.kind == "portal"]
    again = [c for c in push(catalog, gateway) if c.kind == "portal"]

    assert [c.action for c in first] == ["created"] and [c.action for c in again] == ["unchanged"]
    assert first[0].stripe_id == again[0].stripe_id
    config = stripe_client.v1.billing_portal.configurations.retrieve(
        str(first[0].stripe_id), params={"expand": ["features.subscription_update.products"]}
    )
    update = config.features.subscription_update
    assert update.enabled and update.proration_behavior == "always_invoice"
    products = {p.product: p for p in update.products}
    assert set(products) == {"paywire_plan_basic", "paywire_plan_advanced", "paywire_plan_pro"}
    prices = gateway.list_prices_by_lookup_keys(["pro_month", "pro_year"])
    assert sorted(products["paywire_plan_pro"].prices) == sorted(p["id"] for p in prices.values())
    assert products["paywire_plan_pro"].adjustable_quantity.maximum == 100
    assert {c.type for c in update.schedule_at_period_end.conditions} == {
        "decreasing_item_amount",
        "shortening_interval",
    }


def test_a_replaced_price_updates_the_configuration(catalog: Catalog, gateway: StripeGateway) -> None:
    push(catalog, gateway)
    dearer = catalog.model_copy(
        update={
            "plans": {
                **catalog.plans,
                "basic": catalog.plans["basic"].model_copy(update={"prices": {"month": 600, "year": 5000}}),
            }
        }
    )

    [portal] = [c for c in push(dearer, gateway) if c.kind == "portal"]

    assert portal.action == "updated"
    config = find_configuration(gateway)
    assert config is not None
    new_price = gateway.list_prices_by_lookup_keys(["basic_month"])["basic_month"]["id"]
    basic = next(
        p for p in config["features"]["subscription_update"]["products"] if p["product"] == "paywire_plan_basic"
    )
    assert new_price in basic["prices"]


def test_the_portal_paywire_opens_can_switch_plans(paywire_service: Service, sim: Sim) -> None:
    ann = subscribed(paywire_service, sim, "ann", "basic", advance_to=None)

    url = ann.ok("/api/billing-portal")["url"]

    with httpx.Client(timeout=30, trust_env=False, follow_redirects=True) as browser:
        page = browser.get(url)
    assert page.status_code == 200
    # Stripe's default configuration has switching off; paywire's offers it.
    assert 'id="update-plan"' in page.text
