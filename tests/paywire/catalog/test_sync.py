from __future__ import annotations

import stripe

from paywire.catalog import Catalog, parse_catalog
from paywire.catalog.sync import check, push
from paywire.stripe import StripeGateway


def _prices(client: stripe.StripeClient) -> list[stripe.Price]:
    return list(client.v1.prices.list(params={"limit": 100}).data)


def test_push_creates_everything_once(
    catalog: Catalog, gateway: StripeGateway, stripe_client: stripe.StripeClient
) -> None:
    assert {d.problem for d in check(catalog, gateway)} == {"missing"}
    changes = push(catalog, gateway)
    assert {c.action for c in changes} == {"created"}
    assert check(catalog, gateway) == []

    again = push(catalog, gateway)
    assert {c.action for c in again} == {"unchanged"}
    assert len(_prices(stripe_client)) == 12  # with the marketplace's session-60

    pro_month = stripe_client.v1.prices.list(params={"lookup_keys": ["pro_month"]}).data[0]
    assert pro_month.unit_amount == 1000 and pro_month.recurring.interval == "month"
    pro_year = stripe_client.v1.prices.list(params={"lookup_keys": ["pro_year"]}).data[0]
    assert pro_year.unit_amount == 10000 and pro_year.recurring.interval == "year"
    pass_price = stripe_client.v1.prices.list(params={"lookup_keys": ["pass-3-months"]}).data[0]
    assert pass_price.unit_amount == 400 and pass_price.recurring is None
    product = stripe_client.v1.products.retrieve(pro_month.product)
    assert product.metadata["paywire_plan"] == "pro"
    (meter,) = stripe_client.v1.billing.meters.list().data
    assert (meter.event_name, meter.display_name) == ("api_calls", "API calls")
    assert meter.default_aggregation.formula == "sum"
    usage = stripe_client.v1.prices.retrieve(
        stripe_client.v1.prices.list(params={"lookup_keys": ["scale_api_calls_month"]}).data[0].id,
        params={"expand": ["tiers"]},
    )
    assert usage.recurring.usage_type == "metered" and usage.recurring.meter == meter.id
    assert usage.billing_scheme == "tiered" and usage.tiers_mode == "graduated"
    assert [(t.up_to, str(t.unit_amount_decimal)) for t in usage.tiers] == [(10000, "0"), (None, "0.1")]


def test_metered_prices_and_meters_are_checked_and_replaced(
    catalog: Catalog, gateway: StripeGateway, stripe_client: stripe.StripeClient
) -> None:
    push(catalog, gateway)
    old = stripe_client.v1.prices.list(params={"lookup_keys": ["scale_api_calls_month"]}).data[0]
    scale = catalog.plans["scale"]
    usage = scale.usage["api_calls"].model_copy(update={"included": 20000})
    more = catalog.model_copy(
        update={"plans": {**catalog.plans, "scale": scale.model_copy(update={"usage": {"api_calls": usage}})}}
    )
    assert {(d.key, d.problem) for d in check(more, gateway)} == {
        ("scale_api_calls_month", "amount"),
        ("scale_api_calls_year", "amount"),
    }
    changes = {c.key: c.action for c in push(more, gateway) if c.kind == "price"}
    assert changes["scale_api_calls_month"] == "replaced" and changes["scale_month"] == "unchanged"
    new = stripe_client.v1.prices.list(params={"lookup_keys": ["scale_api_calls_month"]}).data[0]
    assert new.id != old.id and check(more, gateway) == []

    counted = more.model_copy(
        update={"meters": {"api_calls": more.meters["api_calls"].model_copy(update={"formula": "count"})}}
    )
    assert [(d.key, d.problem) for d in check(counted, gateway)] == [("api_calls", "formula")]
    assert [c.action for c in push(counted, gateway) if c.kind == "meter"] == ["drifted"]
    renamed = more.model_copy(
        update={"meters": {"api_calls": more.meters["api_calls"].model_copy(update={"name": "Calls"})}}
    )
    assert [c.action for c in push(renamed, gateway) if c.kind == "meter"] == ["updated"]
    assert check(renamed, gateway) == []


def test_a_changed_amount_moves_the_lookup_key_to_a_new_price(
    catalog: Catalog, gateway: StripeGateway, stripe_client: stripe.StripeClient
) -> None:
    push(catalog, gateway)
    old = stripe_client.v1.prices.list(params={"lookup_keys": ["basic_month"]}).data[0]

    dearer = catalog.model_copy(
        update={
            "plans": {
                **catalog.plans,
                "basic": catalog.plans["basic"].model_copy(update={"prices": {"month": 600, "year": 5000}}),
            }
        }
    )
    assert [(d.key, d.problem) for d in check(dearer, gateway)] == [("basic_month", "amount")]
    changes = {c.key: c for c in push(dearer, gateway) if c.kind == "price"}
    assert changes["basic_month"].action == "replaced"
    assert changes["basic_year"].action == "unchanged"

    new = stripe_client.v1.prices.list(params={"lookup_keys": ["basic_month"]}).data[0]
    assert new.id != old.id and new.unit_amount == 600
    kept = stripe_client.v1.prices.retrieve(old.id)
    assert kept.lookup_key is None and kept.unit_amount == 500  # existing subscribers keep it
    assert check(dearer, gateway) == []

    # Back to the old amount: yet another new price, not a replay of the first.
    changes = {c.key: c for c in push(catalog, gateway) if c.kind == "price"}
    assert changes["basic_month"].action == "replaced"
    back = stripe_client.v1.prices.list(params={"lookup_keys": ["basic_month"]}).data[0]
    assert back.id not in (old.id, new.id) and back.unit_amount == 500


def test_check_reports_drift_and_push_repairs_it(
    catalog: Catalog, gateway: StripeGateway, stripe_client: stripe.StripeClient
) -> None:
    push(catalog, gateway)
    price = stripe_client.v1.prices.list(params={"lookup_keys": ["advanced_year"]}).data[0]
    stripe_client.v1.prices.update(price.id, params={"active": False})
    stripe_client.v1.products.update("paywire_plan_pro", params={"name": "Renamed"})

    drift = {(d.key, d.problem) for d in check(catalog, gateway)}
    assert drift == {("advanced_year", "inactive"), ("paywire_plan_pro", "name")}

    actions = {c.key: c.action for c in push(catalog, gateway)}
    assert actions["advanced_year"] == "reactivated"
    assert actions["paywire_plan_pro"] == "updated"
    assert check(catalog, gateway) == []


def test_a_price_with_the_wrong_interval_is_drift_and_replaced(
    gateway: StripeGateway, stripe_client: stripe.StripeClient
) -> None:
    solo = parse_catalog('[plans.solo]\nname = "Solo"\nrank = 1\nprices = { month = 900 }\n')
    stripe_client.v1.products.create(
        params={"id": "paywire_plan_solo", "name": "Solo", "metadata": {"paywire_plan": "solo"}}
    )
    wrong = stripe_client.v1.prices.create(
        params={
            "product": "paywire_plan_solo",
            "currency": "usd",
            "unit_amount": 900,
            "recurring": {"interval": "year"},
            "lookup_key": "solo_month",
        }
    )
    assert [(d.key, d.problem) for d in check(solo, gateway)] == [("solo_month", "interval")]
    (change,) = [c for c in push(solo, gateway) if c.kind == "price"]
    assert change.action == "replaced" and change.stripe_id != wrong.id
    assert check(solo, gateway) == []
