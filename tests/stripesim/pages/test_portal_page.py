"""The customer portal page: every action as a form post, checked against the API state and events."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import stripe

from tests.stripesim.pages.helpers import (
    card,
    dollars,
    events_after,
    field_error,
    figure,
    follow,
    full_features,
    latest_event_id,
    path_of,
    subscribed_customer,
    types,
)
from tests.support.billing_world import CARD_DECLINE, CARD_FAILS_LATER, Catalog, subscription_period
from tests.support.stripesim import Sim

RETURN = "https://app.example.com/account"


def features(catalog: Catalog, **overrides: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(full_features(catalog))
    for key, value in overrides.items():
        out[key].update(value)
    return out


def open_portal(
    client: stripe.StripeClient,
    catalog: Catalog,
    feature_set: dict[str, Any] | None = None,
    *,
    price: Any = None,
    **session: Any,
) -> tuple[Any, Any, Any]:
    """A customer with a card and one subscription, and a portal session for them."""
    customer, sub = subscribed_customer(client, catalog)
    if price is not None:
        item = sub["items"].data[0].id
        sub = client.v1.subscriptions.update(
            sub.id, params={"items": [{"id": item, "price": price.id}], "proration_behavior": "none"}
        )
    config = client.v1.billing_portal.configurations.create(
        params={"features": feature_set or full_features(catalog), "business_profile": {"headline": "Acme <billing>"}}
    )
    portal = client.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "configuration": config.id, "return_url": RETURN, **session}
    )
    return customer, sub, portal


def proration_date_of(page: str) -> int:
    """The proration date a confirm form carries from its preview."""
    found = re.search(r'name="proration_date" value="(\d+)"', page)
    assert found, "no proration date on the page"
    return int(found.group(1))


def preview_of(client: stripe.StripeClient, sub: Any, behavior: str, when: int, **item: Any) -> Any:
    """`invoices.create_preview` for a change of the subscription's one item."""
    details = {"items": [{"id": sub["items"].data[0].id, **item}], "proration_behavior": behavior}
    return client.v1.invoices.create_preview(
        params={"subscription": sub.id, "subscription_details": {**details, "proration_date": when}}
    )


def test_homepage_lists_subscription_card_and_invoices(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    _, sub, portal = open_portal(stripe_client, catalog)
    page = web.get(path_of(portal.url))
    assert page.status_code == 200
    html = page.text
    assert "Basic · $5.00 per month" in html and ">Active<" in html and "Renews " in html
    assert "Visa •••• 4242" in html
    assert f'href="/invoices/{sub.latest_invoice}"' in html and "$5.00" in html
    assert f'href="{RETURN}"' in html and "Return to app.example.com" in html
    assert "Acme &lt;billing&gt;" in html and "Acme <billing>" not in html
    assert 'id="update-plan"' in html and 'id="cancel-plan"' in html and 'id="update-card"' in html
    assert web.get("/p/session/bps_missing").status_code == 404


def test_cancel_at_period_end_then_renew(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    _, sub, portal = open_portal(
        stripe_client, catalog, features(catalog, subscription_cancel={"mode": "at_period_end"})
    )
    base = path_of(portal.url)
    form = web.get(f"{base}/subscriptions/{sub.id}/cancel")
    assert "It&#x27;s too expensive" in form.text and 'value="other"' in form.text
    assert "still available until the end of your billing period" in form.text
    marker = latest_event_id(stripe_client)
    answer = web.post(f"{base}/subscriptions/{sub.id}/cancel", data={"reason": "too_expensive", "comment": "Pricey"})
    assert answer.status_code == 303 and path_of(answer.headers["location"]) == f"{base}?done=cancel_scheduled"
    home = follow(web, answer).text
    assert "will be canceled at the end of the billing period" in home
    assert 'id="renew-plan"' in home and "Cancels " in home and 'id="cancel-plan"' not in home
    canceled = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert canceled.status == "active" and canceled.cancel_at_period_end is True
    assert canceled.cancel_at == subscription_period(canceled)[1]
    assert canceled.cancellation_details.feedback == "too_expensive"
    assert canceled.cancellation_details.comment == "Pricey"
    events = events_after(stripe_client, marker)
    assert types(events) == ["customer.subscription.updated"]
    assert events[0].data.previous_attributes.cancel_at_period_end is False
    marker = events[-1].id
    renewed = web.post(f"{base}/subscriptions/{sub.id}/renew")
    assert path_of(renewed.headers["location"]) == f"{base}?done=renewed"
    assert "Your subscription has been renewed." in follow(web, renewed).text
    back = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert back.cancel_at_period_end is False and back.cancel_at is None
    events = events_after(stripe_client, marker)
    assert types(events) == ["customer.subscription.updated"]
    assert events[0].data.previous_attributes.cancel_at_period_end is True


def test_cancel_immediately_credits_unused_time(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    customer, sub, portal = open_portal(stripe_client, catalog)
    marker = latest_event_id(stripe_client)
    answer = web.post(f"{path_of(portal.url)}/subscriptions/{sub.id}/cancel", data={"reason": "other"})
    assert path_of(answer.headers["location"]).endswith("?done=canceled")
    gone = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert gone.status == "canceled" and gone.cancellation_details.feedback == "other"
    seen = types(events_after(stripe_client, marker))
    assert "customer.subscription.deleted" in seen and "invoiceitem.created" in seen
    credits = stripe_client.v1.invoice_items.list(params={"customer": customer.id}).data
    assert len(credits) == 1 and credits[0].amount < 0
    home = follow(web, answer).text
    assert "Your subscription has been canceled." in home and "You have no subscriptions." in home


def test_cancel_reason_must_be_one_offered(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    _, sub, portal = open_portal(stripe_client, catalog)
    answer = web.post(f"{path_of(portal.url)}/subscriptions/{sub.id}/cancel", data={"reason": "unused"})
    assert answer.status_code == 400 and "Choose one of the reasons listed." in answer.text
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_upgrade_is_invoiced_at_once_with_always_invoice(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    _, sub, portal = open_portal(stripe_client, catalog)
    item = sub["items"].data[0].id
    base = path_of(portal.url)
    form = web.get(f"{base}/subscriptions/{sub.id}/update").text
    assert "Pro · $10.00 per month" in form and "Pro · $100.00 per year" in form and "Advanced" not in form
    marker = latest_event_id(stripe_client)
    answer = web.post(
        f"{base}/subscriptions/{sub.id}/update", data={"item": item, "price": catalog.pro_month.id, "quantity": "2"}
    )
    assert path_of(answer.headers["location"]) == f"{base}?done=updated"
    updated = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert updated["items"].data[0].price.id == catalog.pro_month.id and updated["items"].data[0].quantity == 2
    invoice = stripe_client.v1.invoices.retrieve(updated.latest_invoice)
    assert invoice.billing_reason == "subscription_update" and invoice.status == "paid"
    assert 1400 < invoice.amount_paid <= 1500  # 2 x $10 for the rest of the month, less unused Basic
    seen = types(events_after(stripe_client, marker))
    assert "customer.subscription.updated" in seen and "invoice.paid" in seen
    assert "Pro × 2 · $20.00 per month ($10.00 each)" in follow(web, answer).text


def test_upgrade_with_create_prorations_waits_for_the_next_invoice(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    _, sub, portal = open_portal(
        stripe_client, catalog, features(catalog, subscription_update={"proration_behavior": "create_prorations"})
    )
    marker = latest_event_id(stripe_client)
    web.post(
        f"{path_of(portal.url)}/subscriptions/{sub.id}/update",
        data={"item": sub["items"].data[0].id, "price": catalog.pro_month.id},
    )
    updated = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert updated["items"].data[0].price.id == catalog.pro_month.id
    assert updated.latest_invoice == sub.latest_invoice
    items = stripe_client.v1.invoice_items.list(params={"customer": sub.customer}).data
    assert sorted(i.amount > 0 for i in items) == [False, True] and all(i.proration for i in items)
    assert types(events_after(stripe_client, marker)).count("invoiceitem.created") == 2


def test_downgrade_is_scheduled_for_the_period_end(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    _, sub, portal = open_portal(stripe_client, catalog, price=catalog.pro_month)
    base = path_of(portal.url)
    marker = latest_event_id(stripe_client)
    answer = web.post(
        f"{base}/subscriptions/{sub.id}/update", data={"item": sub["items"].data[0].id, "price": catalog.basic_month.id}
    )
    assert path_of(answer.headers["location"]) == f"{base}?done=scheduled"
    kept = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert kept["items"].data[0].price.id == catalog.pro_month.id
    schedule = stripe_client.v1.subscription_schedules.retrieve(kept.schedule)
    assert schedule.end_behavior == "release" and len(schedule.phases) == 2
    assert schedule.phases[1].items[0].price == catalog.basic_month.id
    assert schedule.phases[1].start_date == subscription_period(kept)[1]
    assert "subscription_schedule.created" in types(events_after(stripe_client, marker))
    home = follow(web, answer).text
    assert 'id="scheduled-change"' in home and "Changes to <b>Basic" in home and 'id="keep-plan"' in home
    released = web.post(f"{base}/subscriptions/{sub.id}/keep")
    assert path_of(released.headers["location"]) == f"{base}?done=kept"
    assert stripe_client.v1.subscriptions.retrieve(sub.id).schedule is None
    assert stripe_client.v1.subscription_schedules.retrieve(schedule.id).status == "released"


def test_scheduled_downgrade_takes_effect_when_the_clock_reaches_the_period_end(
    sim: Sim, web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    clock = stripe_client.v1.test_helpers.test_clocks.create(params={"frozen_time": 1_800_000_000})
    customer = stripe_client.v1.customers.create(params={"test_clock": clock.id, "email": "t@example.com"})
    pm = stripe_client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    stripe_client.v1.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": pm.id}})
    sub = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": catalog.pro_month.id}]}
    )
    config = stripe_client.v1.billing_portal.configurations.create(params={"features": full_features(catalog)})
    portal = stripe_client.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "configuration": config.id}
    )
    web.post(
        f"{path_of(portal.url)}/subscriptions/{sub.id}/update",
        data={"item": sub["items"].data[0].id, "price": catalog.basic_month.id},
    )
    _, end = subscription_period(sub)
    sim.advance(stripe_client, clock.id, end + 7200)
    after = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert after["items"].data[0].price.id == catalog.basic_month.id
    assert subscription_period(after)[0] == end


def test_quantity_change_and_its_limits(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    _, sub, portal = open_portal(stripe_client, catalog, price=catalog.pro_month)
    item = sub["items"].data[0].id
    path = f"{path_of(portal.url)}/subscriptions/{sub.id}/update"
    assert 'name="quantity" min="1" max="5"' in web.get(path).text
    assert path_of(web.post(path, data={"item": item, "quantity": "3"}).headers["location"]).endswith("done=updated")
    assert stripe_client.v1.subscriptions.retrieve(sub.id)["items"].data[0].quantity == 3
    too_many = web.post(path, data={"item": item, "quantity": "9"})
    assert too_many.status_code == 400 and "Choose a quantity of at least 1 and 5." in too_many.text
    garbage = web.post(path, data={"item": item, "quantity": "lots"})
    assert garbage.status_code == 400 and "whole number" in garbage.text
    assert stripe_client.v1.subscriptions.retrieve(sub.id)["items"].data[0].quantity == 3


def test_prices_outside_the_configuration_are_refused(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    _, sub, portal = open_portal(stripe_client, catalog)
    answer = web.post(
        f"{path_of(portal.url)}/subscriptions/{sub.id}/update",
        data={"item": sub["items"].data[0].id, "price": catalog.advanced_month.id},
    )
    assert answer.status_code == 400 and "That plan isn&#x27;t available." in answer.text
    assert stripe_client.v1.subscriptions.retrieve(sub.id)["items"].data[0].price.id == catalog.basic_month.id
    # Basic has no adjustable_quantity of its own, but `quantity` is in default_allowed_updates.
    ok = web.post(
        f"{path_of(portal.url)}/subscriptions/{sub.id}/update", data={"item": sub["items"].data[0].id, "quantity": "2"}
    )
    assert ok.status_code == 303
    assert stripe_client.v1.subscriptions.retrieve(sub.id)["items"].data[0].quantity == 2


def test_update_card_becomes_the_default_everywhere(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    customer, sub, portal = open_portal(stripe_client, catalog)
    base = path_of(portal.url)
    assert 'name="card_number"' in web.get(f"{base}/payment-method").text
    marker = latest_event_id(stripe_client)
    declined = web.post(f"{base}/payment-method", data=card(CARD_DECLINE))
    assert declined.status_code == 402 and "Your card was declined." in declined.text
    assert events_after(stripe_client, marker) == []
    answer = web.post(f"{base}/payment-method", data=card("4000 0000 0000 0341", name="Card Holder"))
    assert path_of(answer.headers["location"]) == f"{base}?done=card"
    assert "Visa •••• 0341" in follow(web, answer).text
    fresh = stripe_client.v1.customers.retrieve(customer.id)
    pm = stripe_client.v1.payment_methods.retrieve(fresh.invoice_settings.default_payment_method)
    assert pm.card.last4 == "0341" and pm.customer == customer.id and pm.billing_details.name == "Card Holder"
    assert stripe_client.v1.subscriptions.retrieve(sub.id).default_payment_method == pm.id
    assert types(events_after(stripe_client, marker)) == [
        "payment_method.attached",
        "customer.updated",
        "customer.subscription.updated",
    ]
    bad = web.post(f"{base}/payment-method", data=card("4242 4242 4242 4241"))
    assert field_error(bad.text, "card_number") == "Your card number is incorrect."


def test_failed_upgrade_payment_leaves_a_pending_update(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    _, sub, portal = open_portal(stripe_client, catalog)
    base = path_of(portal.url)
    web.post(f"{base}/payment-method", data=card(CARD_FAILS_LATER))
    answer = web.post(
        f"{base}/subscriptions/{sub.id}/update", data={"item": sub["items"].data[0].id, "price": catalog.pro_month.id}
    )
    assert path_of(answer.headers["location"]) == f"{base}?done=payment_failed"
    pending = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert pending["items"].data[0].price.id == catalog.basic_month.id
    assert pending.pending_update is not None
    home = follow(web, answer).text
    assert "plan hasn&#x27;t changed yet" in home and f'href="/invoices/{pending.latest_invoice}"' in home
    assert 'id="update-plan"' not in home


def test_another_customers_subscription_is_not_reachable(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    _, _, portal = open_portal(stripe_client, catalog)
    _, other = subscribed_customer(stripe_client, catalog)
    base = path_of(portal.url)
    assert web.get(f"{base}/subscriptions/{other.id}/cancel").status_code == 404
    assert web.post(f"{base}/subscriptions/{other.id}/cancel", data={}).status_code == 404
    assert (
        web.post(
            f"{base}/subscriptions/{other.id}/update",
            data={"item": other["items"].data[0].id, "price": catalog.pro_month.id},
        ).status_code
        == 404
    )
    untouched = stripe_client.v1.subscriptions.retrieve(other.id)
    assert untouched.status == "active" and untouched["items"].data[0].price.id == catalog.basic_month.id


def test_disabled_features_are_not_offered(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    _, sub, portal = open_portal(stripe_client, catalog, {"invoice_history": {"enabled": True}})
    base = path_of(portal.url)
    home = web.get(base).text
    assert 'id="update-plan"' not in home and 'id="cancel-plan"' not in home and 'id="update-card"' not in home
    assert "Invoice history" in home and "Billing information" not in home
    assert web.get(f"{base}/subscriptions/{sub.id}/cancel").status_code == 403
    assert web.post(f"{base}/subscriptions/{sub.id}/cancel", data={}).status_code == 400
    assert web.get(f"{base}/payment-method").status_code == 403
    assert web.post(f"{base}/payment-method", data=card("4242424242424242")).status_code == 403
    assert web.post(f"{base}/customer", data={"email": "x@example.com"}).status_code == 400
    assert stripe_client.v1.subscriptions.retrieve(sub.id).cancel_at_period_end is False


def test_customer_details_update(web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog) -> None:
    customer, _, portal = open_portal(stripe_client, catalog)
    base = path_of(portal.url)
    invalid = web.post(f"{base}/customer", data={"email": "nope", "name": "X"})
    assert invalid.status_code == 400 and field_error(invalid.text, "email") == "Enter a valid email address."
    answer = web.post(f"{base}/customer", data={"email": "new@example.com", "name": "New Name"})
    assert path_of(answer.headers["location"]) == f"{base}?done=customer"
    fresh = stripe_client.v1.customers.retrieve(customer.id)
    assert (fresh.email, fresh.name) == ("new@example.com", "New Name")


def test_cancel_flow_redirects_after_completion(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    customer, sub = subscribed_customer(stripe_client, catalog)
    config = stripe_client.v1.billing_portal.configurations.create(params={"features": full_features(catalog)})
    portal = stripe_client.v1.billing_portal.sessions.create(
        params={
            "customer": customer.id,
            "configuration": config.id,
            "return_url": RETURN,
            "flow_data": {
                "type": "subscription_cancel",
                "subscription_cancel": {"subscription": sub.id},
                "after_completion": {"type": "redirect", "redirect": {"return_url": "https://app.example.com/bye"}},
            },
        }
    )
    landing = web.get(path_of(portal.url))
    assert landing.status_code == 303
    cancel_path = f"{path_of(portal.url)}/subscriptions/{sub.id}/cancel"
    assert path_of(landing.headers["location"]) == cancel_path
    page = web.get(cancel_path).text
    assert "← Back" not in page  # a flow hides the way back to the homepage
    done = web.post(cancel_path, data={})
    assert done.status_code == 303 and done.headers["location"] == "https://app.example.com/bye"
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "canceled"
    assert web.get(path_of(portal.url)).status_code == 200  # the flow is over: the homepage shows


def test_update_confirm_flow_with_hosted_confirmation(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    customer, sub = subscribed_customer(stripe_client, catalog)
    config = stripe_client.v1.billing_portal.configurations.create(params={"features": full_features(catalog)})
    portal = stripe_client.v1.billing_portal.sessions.create(
        params={
            "customer": customer.id,
            "configuration": config.id,
            "flow_data": {
                "type": "subscription_update_confirm",
                "subscription_update_confirm": {
                    "subscription": sub.id,
                    "items": [{"id": sub["items"].data[0].id, "price": catalog.pro_month.id, "quantity": 2}],
                },
                "after_completion": {
                    "type": "hosted_confirmation",
                    "hosted_confirmation": {"custom_message": "Enjoy <Pro>!"},
                },
            },
        }
    )
    page = follow(web, web.get(path_of(portal.url))).text
    assert "Basic · $5.00 per month" in page and "Pro × 2 · $20.00 per month ($10.00 each)" in page
    preview = stripe_client.v1.invoices.create_preview(
        params={
            "subscription": sub.id,
            "subscription_details": {
                "items": [{"id": sub["items"].data[0].id, "price": catalog.pro_month.id, "quantity": 2}],
                "proration_behavior": "always_invoice",
                "proration_date": proration_date_of(page),
            },
        }
    )
    assert figure(page, "due-today") == dollars(preview.amount_due)
    done = web.post(
        f"{path_of(portal.url)}/subscriptions/{sub.id}/confirm", data={"proration_date": proration_date_of(page)}
    )
    assert done.status_code == 200 and "Enjoy &lt;Pro&gt;!" in done.text
    updated = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert updated["items"].data[0].price.id == catalog.pro_month.id and updated["items"].data[0].quantity == 2
    assert stripe_client.v1.invoices.retrieve(updated.latest_invoice).amount_due == preview.amount_due


def test_payment_method_flow_lands_on_the_card_form(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    customer, _ = subscribed_customer(stripe_client, catalog)
    portal = stripe_client.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "flow_data": {"type": "payment_method_update"}}
    )
    landing = web.get(path_of(portal.url))
    assert path_of(landing.headers["location"]) == f"{path_of(portal.url)}/payment-method"
    done = web.post(f"{path_of(portal.url)}/payment-method", data=card("5555 5555 5555 4444"))
    assert path_of(done.headers["location"]) == f"{path_of(portal.url)}?done=card"
    fresh = stripe_client.v1.customers.retrieve(customer.id)
    assert stripe_client.v1.payment_methods.retrieve(fresh.invoice_settings.default_payment_method).card.last4 == "4444"


def test_retention_offer_keeps_the_subscription(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    customer, sub = subscribed_customer(stripe_client, catalog)
    coupon = stripe_client.v1.coupons.create(params={"percent_off": 50, "duration": "once"})
    portal = stripe_client.v1.billing_portal.sessions.create(
        params={
            "customer": customer.id,
            "flow_data": {
                "type": "subscription_cancel",
                "subscription_cancel": {
                    "subscription": sub.id,
                    "retention": {"type": "coupon_offer", "coupon_offer": {"coupon": coupon.id}},
                },
            },
        }
    )
    page = follow(web, web.get(path_of(portal.url))).text
    assert "Before you go" in page and "50% off" in page
    answer = web.post(f"{path_of(portal.url)}/subscriptions/{sub.id}/offer")
    assert path_of(answer.headers["location"]).endswith("?done=offer")
    kept = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert kept.status == "active" and kept.cancel_at_period_end is False and len(kept.discounts) == 1


def test_login_page_signs_a_customer_in(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    customer, _ = subscribed_customer(stripe_client, catalog)
    config = stripe_client.v1.billing_portal.configurations.create(
        params={"features": full_features(catalog), "login_page": {"enabled": True}}
    )
    login = path_of(config.login_page.url)
    assert "Manage your billing" in web.get(login).text
    invalid = web.post(login, data={"email": "nope"})
    assert invalid.status_code == 400 and field_error(invalid.text, "email") == "Enter a valid email address."
    unknown = web.post(login, data={"email": "stranger@example.com"})
    assert unknown.status_code == 404 and "No customer uses this email address." in unknown.text
    marker = latest_event_id(stripe_client)
    answer = web.post(login, data={"email": "C@Example.com"})
    assert answer.status_code == 303
    created = events_after(stripe_client, marker)
    assert types(created) == ["billing_portal.session.created"]
    session = created[0].data.object
    assert session.customer == customer.id and session.configuration == config.id
    assert path_of(answer.headers["location"]) == f"/p/session/{session.id}"
    assert "Basic · $5.00 per month" in follow(web, answer).text
    stripe_client.v1.billing_portal.configurations.update(config.id, params={"login_page": {"enabled": False}})
    assert web.get(login).status_code == 404


def test_changing_plan_during_a_trial_ends_the_trial(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    customer, _ = subscribed_customer(stripe_client, catalog)
    trialing = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": catalog.basic_month.id}], "trial_period_days": 14}
    )
    assert trialing.status == "trialing"
    config = stripe_client.v1.billing_portal.configurations.create(
        params={"features": features(catalog, subscription_update={"proration_behavior": "create_prorations"})}
    )
    portal = stripe_client.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "configuration": config.id}
    )
    home = web.get(path_of(portal.url)).text
    assert "Trial ends " in home
    choice = {"item": trialing["items"].data[0].id, "price": catalog.pro_month.id}
    review = web.get(f"{path_of(portal.url)}/subscriptions/{trialing.id}/update/review", params=choice).text
    assert figure(review, "due-today") == "$10.00"  # the trial ends: a full month of Pro now
    answer = web.post(
        f"{path_of(portal.url)}/subscriptions/{trialing.id}/update",
        data={"item": trialing["items"].data[0].id, "price": catalog.pro_month.id},
    )
    assert path_of(answer.headers["location"]).endswith("?done=updated")
    after = stripe_client.v1.subscriptions.retrieve(trialing.id)
    assert after.status == "active" and after["items"].data[0].price.id == catalog.pro_month.id
    invoice = stripe_client.v1.invoices.retrieve(after.latest_invoice)
    assert invoice.status == "paid" and invoice.amount_paid == 1000


def test_continue_trial_keeps_the_trial(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    customer, _ = subscribed_customer(stripe_client, catalog)
    trialing = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": catalog.basic_month.id}], "trial_period_days": 14}
    )
    config = stripe_client.v1.billing_portal.configurations.create(
        params={"features": features(catalog, subscription_update={"trial_update_behavior": "continue_trial"})}
    )
    portal = stripe_client.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "configuration": config.id}
    )
    choice = {"item": trialing["items"].data[0].id, "price": catalog.pro_month.id}
    review = web.get(f"{path_of(portal.url)}/subscriptions/{trialing.id}/update/review", params=choice).text
    trial_end = datetime.fromtimestamp(trialing.trial_end, UTC).strftime("%B %-d, %Y")
    assert figure(review, "due-today") == "$0.00" and figure(review, "next-invoice") == "$10.00"
    assert f"Next invoice, {trial_end}" in review
    web.post(f"{path_of(portal.url)}/subscriptions/{trialing.id}/update", data=choice)
    after = stripe_client.v1.subscriptions.retrieve(trialing.id)
    assert after.status == "trialing" and after.trial_end == trialing.trial_end
    assert after["items"].data[0].price.id == catalog.pro_month.id


def test_an_item_shows_its_total_for_the_quantity(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    _, sub, portal = open_portal(stripe_client, catalog, price=catalog.pro_month)
    stripe_client.v1.subscriptions.update(
        sub.id, params={"items": [{"id": sub["items"].data[0].id, "quantity": 2}], "proration_behavior": "none"}
    )
    home = web.get(path_of(portal.url)).text
    assert "Pro × 2 · $20.00 per month ($10.00 each)" in home and "$10.00 per month" not in home
    cancel = web.get(f"{path_of(portal.url)}/subscriptions/{sub.id}/cancel").text
    assert "Pro × 2 · $20.00 per month ($10.00 each)" in cancel


def test_an_upgrade_is_previewed_then_charged_as_previewed(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    _, sub, portal = open_portal(stripe_client, catalog)
    base = f"{path_of(portal.url)}/subscriptions/{sub.id}"
    form = web.get(f"{base}/update").text
    assert f'action="{base}/update/review"' in form and 'id="review-update"' in form
    marker = latest_event_id(stripe_client)
    choice = {"item": sub["items"].data[0].id, "price": catalog.pro_month.id, "quantity": "2"}
    review = web.get(f"{base}/update/review", params=choice)
    assert review.status_code == 200
    page = review.text
    assert "Basic · $5.00 per month" in page and "Pro × 2 · $20.00 per month ($10.00 each)" in page
    when = proration_date_of(page)
    preview = preview_of(stripe_client, sub, "always_invoice", when, price=catalog.pro_month.id, quantity=2)
    assert 1400 < preview.amount_due <= 1500  # 2 x $10 for the rest of the month, less unused Basic
    assert figure(page, "due-today") == dollars(preview.amount_due)
    for line in preview.lines.data:
        assert line.description in page.replace("&#x27;", "'")
    # Looking changes nothing.
    assert events_after(stripe_client, marker) == []
    assert stripe_client.v1.subscriptions.retrieve(sub.id)["items"].data[0].price.id == catalog.basic_month.id
    confirmed = web.post(f"{base}/update", data={**choice, "proration_date": str(when)})
    assert path_of(confirmed.headers["location"]).endswith("?done=updated")
    invoice = stripe_client.v1.invoices.retrieve(stripe_client.v1.subscriptions.retrieve(sub.id).latest_invoice)
    assert invoice.billing_reason == "subscription_update" and invoice.amount_paid == preview.amount_due


def test_a_change_for_the_next_invoice_previews_that_invoice(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    _, sub, portal = open_portal(
        stripe_client, catalog, features(catalog, subscription_update={"proration_behavior": "create_prorations"})
    )
    choice = {"item": sub["items"].data[0].id, "price": catalog.pro_month.id}
    page = web.get(f"{path_of(portal.url)}/subscriptions/{sub.id}/update/review", params=choice).text
    preview = preview_of(stripe_client, sub, "create_prorations", proration_date_of(page), price=catalog.pro_month.id)
    assert figure(page, "due-today") == "$0.00"
    assert figure(page, "next-invoice") == dollars(preview.amount_due)
    prorations = [line for line in preview.lines.data if line.parent.subscription_item_details.proration]
    assert len(prorations) == 2 and all(line.description in page.replace("&#x27;", "'") for line in prorations)
    assert "The prorated difference is added to your next invoice." in page


def test_a_downgrade_previews_the_period_end_and_charges_nothing_now(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    _, sub, portal = open_portal(stripe_client, catalog, price=catalog.pro_month)
    choice = {"item": sub["items"].data[0].id, "price": catalog.basic_month.id}
    page = web.get(f"{path_of(portal.url)}/subscriptions/{sub.id}/update/review", params=choice).text
    on = datetime.fromtimestamp(subscription_period(sub)[1], UTC).strftime("%B %-d, %Y")
    assert figure(page, "due-today") == "$0.00" and figure(page, "next-invoice") == "$5.00"
    assert f"Your new plan starts on {on};" in page and f"Next invoice, {on}" in page
    assert "Remaining time" not in page
    assert stripe_client.v1.subscriptions.retrieve(sub.id).schedule is None


def test_review_refuses_what_the_update_refuses(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    _, sub, portal = open_portal(stripe_client, catalog, price=catalog.pro_month)
    path = f"{path_of(portal.url)}/subscriptions/{sub.id}/update/review"
    item = sub["items"].data[0].id
    too_many = web.get(path, params={"item": item, "quantity": "9"})
    assert too_many.status_code == 400 and "Choose a quantity of at least 1 and 5." in too_many.text
    outside = web.get(path, params={"item": item, "price": catalog.advanced_month.id})
    assert outside.status_code == 400 and "That plan isn&#x27;t available." in outside.text
    same = web.get(path, params={"item": item, "price": catalog.pro_month.id, "quantity": "1"})
    assert "Nothing changes: this is your current plan." in same.text and 'id="confirm-update"' not in same.text
