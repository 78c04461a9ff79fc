"""Billing portal configurations and sessions through the official SDK."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.stripesim.pages.helpers import events_after, full_features, latest_event_id, subscribed_customer
from tests.support.billing_world import Catalog, make_catalog


@pytest.fixture
def catalog(stripe_client: stripe.StripeClient) -> Catalog:
    return make_catalog(stripe_client)


def test_create_configuration(stripe_client: stripe.StripeClient, catalog: Catalog) -> None:
    marker = latest_event_id(stripe_client)
    config = stripe_client.v1.billing_portal.configurations.create(
        params={
            "features": full_features(catalog),
            "business_profile": {"headline": "Acme billing"},
            "default_return_url": "https://example.com/account",
            "metadata": {"team": "billing"},
            "name": "Main",
        }
    )
    assert config.object == "billing_portal.configuration" and config.id.startswith("bpc_")
    assert config.active is True and config.is_default is False and config.livemode is False
    assert config.business_profile.headline == "Acme billing"
    assert config.business_profile.privacy_policy_url is None
    assert config.default_return_url == "https://example.com/account"
    assert config.metadata.to_dict() == {"team": "billing"} and config.name == "Main"
    features = config.features
    assert features.subscription_cancel.mode == "immediately"
    assert features.subscription_cancel.cancellation_reason.options == ["too_expensive", "other"]
    assert features.subscription_update.default_allowed_updates == ["price", "quantity"]
    assert features.subscription_update.proration_behavior == "always_invoice"
    assert features.subscription_update.trial_update_behavior == "end_trial"
    assert features.subscription_update.schedule_at_period_end.conditions[0].type == "decreasing_item_amount"
    # `products` is includable: absent unless expanded.
    assert "products" not in features.subscription_update
    assert config.login_page.enabled is False and config.login_page.url is None
    created = [e for e in events_after(stripe_client, marker) if e.type == "billing_portal.configuration.created"]
    assert [e.data.object.id for e in created] == [config.id]


def test_products_are_shown_when_expanded(stripe_client: stripe.StripeClient, catalog: Catalog) -> None:
    config = stripe_client.v1.billing_portal.configurations.create(params={"features": full_features(catalog)})
    shown = stripe_client.v1.billing_portal.configurations.retrieve(
        config.id, params={"expand": ["features.subscription_update.products"]}
    )
    products = shown.features.subscription_update.products
    assert [p.product for p in products] == [catalog.basic_month.product, catalog.pro_month.product]
    assert products[0].prices == [catalog.basic_month.id]
    assert products[0].adjustable_quantity.to_dict() == {"enabled": False, "maximum": None, "minimum": 1}
    assert products[1].adjustable_quantity.to_dict() == {"enabled": True, "maximum": 5, "minimum": 1}
    listed = stripe_client.v1.billing_portal.configurations.list(
        params={"expand": ["data.features.subscription_update.products"], "is_default": False}
    )
    assert listed.data[0].features.subscription_update.products[1].prices == [catalog.pro_month.id, catalog.pro_year.id]


def test_defaults_when_features_are_minimal(stripe_client: stripe.StripeClient) -> None:
    config = stripe_client.v1.billing_portal.configurations.create(
        params={"features": {"invoice_history": {"enabled": True}}}
    )
    features = config.features
    assert features.invoice_history.enabled is True
    assert features.customer_update.to_dict() == {"allowed_updates": [], "enabled": False}
    assert features.subscription_cancel.enabled is False and features.subscription_cancel.mode == "at_period_end"
    assert features.subscription_cancel.proration_behavior == "none"
    assert features.subscription_update.enabled is False and features.subscription_update.proration_behavior == "none"


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({}, "features"),
        ({"features": {"customer_update": {"allowed_updates": ["email"]}}}, "features[customer_update][enabled]"),
        (
            {"features": {"customer_update": {"enabled": True, "allowed_updates": ["email", "shoe_size"]}}},
            "features[customer_update][allowed_updates][1]",
        ),
        (
            {"features": {"subscription_cancel": {"enabled": True, "mode": "later"}}},
            "features[subscription_cancel][mode]",
        ),
        (
            {"features": {"subscription_update": {"enabled": True, "proration_behavior": "sometimes"}}},
            "features[subscription_update][proration_behavior]",
        ),
        ({"features": {"invoice_history": {"enabled": True}}, "default_return_url": "not a url"}, "default_return_url"),
        (
            {"features": {"invoice_history": {"enabled": True}}, "business_profile": {"headline": "x" * 61}},
            "business_profile[headline]",
        ),
        ({"features": {"invoice_history": {"enabled": True}, "unknown": {"enabled": True}}}, "features[unknown]"),
    ],
)
def test_invalid_configurations_name_the_parameter(
    stripe_client: stripe.StripeClient, params: dict[str, Any], param: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.billing_portal.configurations.create(params=params)
    assert info.value.http_status == 400
    assert info.value.param == param


def test_products_must_exist_and_own_their_prices(stripe_client: stripe.StripeClient, catalog: Catalog) -> None:
    def create(products: list[dict[str, Any]]) -> None:
        stripe_client.v1.billing_portal.configurations.create(
            params={
                "features": {
                    "subscription_update": {"enabled": True, "default_allowed_updates": ["price"], "products": products}
                }
            }
        )

    with pytest.raises(stripe.InvalidRequestError) as info:
        create([{"product": "prod_missing", "prices": [catalog.basic_month.id]}])
    assert info.value.param == "features[subscription_update][products][0][product]"
    assert info.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as info:
        create([{"product": catalog.basic_month.product, "prices": [catalog.basic_month.id, catalog.pro_month.id]}])
    assert info.value.param == "features[subscription_update][products][0][prices][1]"
    with pytest.raises(stripe.InvalidRequestError) as info:
        create([{"product": catalog.pass_once.product, "prices": [catalog.pass_once.id]}])
    assert "recurring" in str(info.value.user_message)


def test_update_merges_features_and_announces_the_change(stripe_client: stripe.StripeClient, catalog: Catalog) -> None:
    config = stripe_client.v1.billing_portal.configurations.create(params={"features": full_features(catalog)})
    marker = latest_event_id(stripe_client)
    updated = stripe_client.v1.billing_portal.configurations.update(
        config.id,
        params={
            "features": {"subscription_cancel": {"mode": "at_period_end"}},
            "business_profile": {"headline": "New headline"},
            "default_return_url": "",
            "login_page": {"enabled": True},
        },
    )
    assert updated.features.subscription_cancel.mode == "at_period_end"
    assert updated.features.subscription_cancel.enabled is True  # untouched fields stay
    assert updated.features.subscription_update.proration_behavior == "always_invoice"
    assert updated.business_profile.headline == "New headline"
    assert updated.default_return_url is None
    assert updated.login_page.enabled is True and "/p/login/" in updated.login_page.url
    events = [e for e in events_after(stripe_client, marker) if e.type == "billing_portal.configuration.updated"]
    assert len(events) == 1
    previous = events[0].data.previous_attributes
    assert previous.features.subscription_cancel.mode == "immediately"
    assert previous.business_profile.headline is None
    deactivated = stripe_client.v1.billing_portal.configurations.update(config.id, params={"active": False})
    assert deactivated.active is False


def test_default_configuration_exists_and_cannot_be_deactivated(stripe_client: stripe.StripeClient) -> None:
    listed = stripe_client.v1.billing_portal.configurations.list()
    assert len(listed.data) == 1
    default = listed.data[0]
    assert default.is_default is True and default.active is True
    assert default.features.subscription_cancel.enabled is True
    assert default.features.payment_method_update.enabled is True
    assert default.features.invoice_history.enabled is True
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.billing_portal.configurations.update(default.id, params={"active": False})
    assert info.value.param == "active"
    other = stripe_client.v1.billing_portal.configurations.create(
        params={"features": {"invoice_history": {"enabled": False}}}
    )
    stripe_client.v1.billing_portal.configurations.update(other.id, params={"active": False})
    assert [c.id for c in stripe_client.v1.billing_portal.configurations.list(params={"is_default": True}).data] == [
        default.id
    ]
    assert [c.id for c in stripe_client.v1.billing_portal.configurations.list(params={"active": False}).data] == [
        other.id
    ]
    page = stripe_client.v1.billing_portal.configurations.list(params={"limit": 1})
    assert page.has_more is True and page.data[0].id == other.id


def test_unknown_configuration_is_404(stripe_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.billing_portal.configurations.retrieve("bpc_missing")
    assert info.value.http_status == 404 and info.value.code == "resource_missing"


def test_create_session(stripe_client: stripe.StripeClient, catalog: Catalog) -> None:
    customer, _ = subscribed_customer(stripe_client, catalog)
    marker = latest_event_id(stripe_client)
    session = stripe_client.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "return_url": "https://example.com/account", "locale": "fr"}
    )
    assert session.object == "billing_portal.session" and session.id.startswith("bps_")
    assert session.customer == customer.id and session.return_url == "https://example.com/account"
    assert session.locale == "fr" and session.flow is None and session.livemode is False
    default = stripe_client.v1.billing_portal.configurations.list(params={"is_default": True}).data[0]
    assert session.configuration == default.id
    assert session.url.endswith(f"/p/session/{session.id}")
    assert [e.type for e in events_after(stripe_client, marker)] == ["billing_portal.session.created"]


def test_session_falls_back_to_the_configurations_return_url(
    stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    customer, _ = subscribed_customer(stripe_client, catalog)
    config = stripe_client.v1.billing_portal.configurations.create(
        params={"features": {"invoice_history": {"enabled": True}}, "default_return_url": "https://example.com/home"}
    )
    session = stripe_client.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "configuration": config.id}
    )
    assert session.return_url == "https://example.com/home" and session.configuration == config.id


def test_session_errors(stripe_client: stripe.StripeClient, catalog: Catalog) -> None:
    customer, sub = subscribed_customer(stripe_client, catalog)
    other, other_sub = subscribed_customer(stripe_client, catalog)
    inactive = stripe_client.v1.billing_portal.configurations.create(
        params={"features": {"invoice_history": {"enabled": True}}}
    )
    stripe_client.v1.billing_portal.configurations.update(inactive.id, params={"active": False})
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "customer"),
        ({"customer": "cus_missing"}, "customer"),
        ({"customer": customer.id, "configuration": "bpc_missing"}, "configuration"),
        ({"customer": customer.id, "configuration": inactive.id}, "configuration"),
        ({"customer": customer.id, "return_url": "ftp://example.com"}, "return_url"),
        (
            {
                "customer": customer.id,
                "flow_data": {"type": "subscription_cancel", "subscription_cancel": {"subscription": other_sub.id}},
            },
            "flow_data[subscription_cancel][subscription]",
        ),
        ({"customer": customer.id, "flow_data": {"type": "subscription_cancel"}}, "flow_data[subscription_cancel]"),
        ({"customer": customer.id, "flow_data": {"type": "teleport"}}, "flow_data[type]"),
        (
            {
                "customer": customer.id,
                "flow_data": {"type": "subscription_update", "subscription_update": {"subscription": sub.id}},
            },
            "flow_data[type]",
        ),  # the default configuration does not allow updates
        (
            {
                "customer": customer.id,
                "flow_data": {"type": "payment_method_update", "after_completion": {"type": "redirect"}},
            },
            "flow_data[after_completion][redirect]",
        ),
    ]
    for params, param in cases:
        with pytest.raises(stripe.InvalidRequestError) as info:
            stripe_client.v1.billing_portal.sessions.create(params=params)
        assert info.value.http_status == 400, params
        assert info.value.param == param, params
    assert other.id != customer.id


def test_session_with_flows(stripe_client: stripe.StripeClient, catalog: Catalog) -> None:
    customer, sub = subscribed_customer(stripe_client, catalog)
    config = stripe_client.v1.billing_portal.configurations.create(params={"features": full_features(catalog)})
    coupon = stripe_client.v1.coupons.create(params={"percent_off": 50, "duration": "once"})
    cancel = stripe_client.v1.billing_portal.sessions.create(
        params={
            "customer": customer.id,
            "configuration": config.id,
            "flow_data": {
                "type": "subscription_cancel",
                "subscription_cancel": {
                    "subscription": sub.id,
                    "retention": {"type": "coupon_offer", "coupon_offer": {"coupon": coupon.id}},
                },
                "after_completion": {"type": "redirect", "redirect": {"return_url": "https://example.com/bye"}},
            },
        }
    )
    flow = cancel.flow
    assert flow.type == "subscription_cancel"
    assert flow.subscription_cancel.subscription == sub.id
    assert flow.subscription_cancel.retention.coupon_offer.coupon == coupon.id
    assert flow.after_completion.type == "redirect"
    assert flow.after_completion.redirect.return_url == "https://example.com/bye"
    assert flow.subscription_update is None and flow.subscription_update_confirm is None
    item = sub["items"].data[0].id
    confirm = stripe_client.v1.billing_portal.sessions.create(
        params={
            "customer": customer.id,
            "configuration": config.id,
            "flow_data": {
                "type": "subscription_update_confirm",
                "subscription_update_confirm": {
                    "subscription": sub.id,
                    "items": [{"id": item, "price": catalog.pro_month.id, "quantity": 2}],
                },
                "after_completion": {
                    "type": "hosted_confirmation",
                    "hosted_confirmation": {"custom_message": "Enjoy Pro!"},
                },
            },
        }
    )
    assert confirm.flow.subscription_update_confirm.items[0].to_dict() == {
        "id": item,
        "price": catalog.pro_month.id,
        "quantity": 2,
    }
    assert confirm.flow.after_completion.hosted_confirmation.custom_message == "Enjoy Pro!"
    update = stripe_client.v1.billing_portal.sessions.create(
        params={
            "customer": customer.id,
            "configuration": config.id,
            "flow_data": {"type": "subscription_update", "subscription_update": {"subscription": sub.id}},
        }
    )
    assert update.flow.subscription_update.subscription == sub.id
    assert update.flow.after_completion.type == "portal_homepage"
    card = stripe_client.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "flow_data": {"type": "payment_method_update"}}
    )
    assert card.flow.type == "payment_method_update"


def test_session_create_is_idempotent(stripe_client: stripe.StripeClient, catalog: Catalog) -> None:
    customer, _ = subscribed_customer(stripe_client, catalog)
    first = stripe_client.v1.billing_portal.sessions.create(
        params={"customer": customer.id}, options={"idempotency_key": "portal-1"}
    )
    second = stripe_client.v1.billing_portal.sessions.create(
        params={"customer": customer.id}, options={"idempotency_key": "portal-1"}
    )
    assert first.id == second.id
