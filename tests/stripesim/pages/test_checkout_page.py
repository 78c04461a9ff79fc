"""The hosted Checkout page at `session.url`, driven with plain form posts as a browser would."""

from __future__ import annotations

from typing import Any

import httpx
import stripe

from tests.stripesim.pages.helpers import card, events_after, field_error, latest_event_id, path_of, types
from tests.support.billing_world import (
    CARD_3DS,
    CARD_DECLINE,
    CARD_NO_FUNDS,
    CARD_OK,
    Catalog,
    pay_checkout,
)
from tests.support.stripesim import Sim

SUCCESS = "http://127.0.0.1:9/welcome?session={CHECKOUT_SESSION_ID}"
CANCEL = "http://127.0.0.1:9/pricing"


def subscription_session(client: stripe.StripeClient, catalog: Catalog, **extra: Any) -> Any:
    params: dict[str, Any] = {
        "mode": "subscription",
        "line_items": [{"price": catalog.pro_month.id, "quantity": 2}],
        "success_url": SUCCESS,
        "cancel_url": CANCEL,
        **extra,
    }
    return client.v1.checkout.sessions.create(params=params)


def test_page_shows_the_order_and_the_form(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    customer = stripe_client.v1.customers.create(params={"email": "known@example.com"})
    session = subscription_session(
        stripe_client,
        catalog,
        customer=customer.id,
        allow_promotion_codes=True,
        automatic_tax={"enabled": True},
        tax_id_collection={"enabled": True},
    )
    page = web.get(path_of(session.url))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "Pro" in html and "Qty 2" in html
    assert "$20.00" in html  # 2 x $10.00
    assert "Tax (10%)" in html and "$2.00" in html and "$22.00" in html
    assert 'value="known@example.com"' in html
    assert 'name="promotion_code"' in html and 'name="tax_id"' in html
    assert 'name="card_number"' in html and 'name="card_expiry"' in html and 'name="card_cvc"' in html
    assert f'href="{CANCEL}"' in html
    assert ">Subscribe<" in html


def test_optional_fields_appear_only_when_the_session_asks(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    session = subscription_session(stripe_client, catalog)
    html = web.get(path_of(session.url)).text
    assert 'name="promotion_code"' not in html
    assert 'name="tax_id"' not in html
    assert "Tax (" not in html


def test_trial_shows_what_is_due_today_and_later(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    session = subscription_session(stripe_client, catalog, subscription_data={"trial_period_days": 14})
    html = web.get(path_of(session.url)).text
    assert "14 days free" in html
    assert "Your free trial ends on" in html
    assert 'id="total-due">$0.00<' in html
    assert ">Start trial<" in html


def test_paying_redirects_to_the_success_url_and_completes_the_session(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    session = subscription_session(stripe_client, catalog)
    marker = latest_event_id(stripe_client)
    answer = web.post(
        path_of(session.url), data={"email": "new@example.com", "name": "Ada Lovelace", **card("4242 4242 4242 4242")}
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == SUCCESS.replace("{CHECKOUT_SESSION_ID}", session.id)
    done = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert done.status == "complete" and done.payment_status == "paid"
    assert done.customer_details.email == "new@example.com"
    sub = stripe_client.v1.subscriptions.retrieve(done.subscription)
    assert sub.status == "active"
    assert sub["items"].data[0].quantity == 2
    seen = types(events_after(stripe_client, marker))
    assert "customer.created" in seen and "invoice.paid" in seen
    assert seen[-1] == "checkout.session.completed"
    # The page of a completed session says so instead of taking another payment.
    again = web.get(path_of(session.url))
    assert again.status_code == 200 and "Payment complete" in again.text and 'name="card_number"' not in again.text


def test_a_declined_card_shows_the_decline_and_leaves_the_session_open(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    session = subscription_session(stripe_client, catalog)
    marker = latest_event_id(stripe_client)
    answer = web.post(path_of(session.url), data={"email": "d@example.com", **card(CARD_DECLINE)})
    assert answer.status_code == 402
    assert "Your card was declined." in answer.text
    assert 'name="card_number"' in answer.text  # the form is shown again
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert stripe_client.v1.subscriptions.list(params={"status": "all"}).data == []
    assert "checkout.session.completed" not in types(events_after(stripe_client, marker))
    poor = web.post(path_of(session.url), data={"email": "d@example.com", **card(CARD_NO_FUNDS)})
    assert poor.status_code == 402 and "Your card has insufficient funds." in poor.text
    # The same session can still be paid.
    assert web.post(path_of(session.url), data={"email": "d@example.com", **card(CARD_OK)}).status_code == 303
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "complete"


def test_a_bad_card_number_is_reported_next_to_the_card_field(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    session = subscription_session(stripe_client, catalog)
    answer = web.post(path_of(session.url), data={"email": "x@example.com", **card("4242 4242 4242 4241")})
    assert answer.status_code == 402
    assert field_error(answer.text, "card_number") == "Your card number is incorrect."
    incomplete = web.post(
        path_of(session.url),
        data={"email": "not-an-email", "card_number": CARD_OK, "card_expiry": "13 / 30", "card_cvc": "1"},
    )
    assert incomplete.status_code == 400
    assert field_error(incomplete.text, "email") == "Your email address is invalid."
    assert field_error(incomplete.text, "card_expiry") == "Your card's expiration date is invalid."
    assert field_error(incomplete.text, "card_cvc") == "Your card's security code is incomplete."
    past = web.post(path_of(session.url), data={"email": "x@example.com", **card(CARD_OK, card_expiry="01 / 20")})
    assert field_error(past.text, "card_expiry") == "Your card's expiration year is in the past."
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"


def _promo(client: stripe.StripeClient, code: str, **extra: Any) -> Any:
    coupon = client.v1.coupons.create(params={"percent_off": 25, "duration": "once", "name": "Quarter off"})
    return client.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": code, **extra}
    )


def test_promotion_code_applies_and_discounts_the_payment(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    promo = _promo(stripe_client, "SPRING")
    session = subscription_session(stripe_client, catalog, allow_promotion_codes=True)
    applied = web.post(path_of(session.url), data={"action": "apply", "promotion_code": "spring"})
    assert applied.status_code == 200
    assert "SPRING" in applied.text and "-$5.00" in applied.text and 'id="total-due">$15.00<' in applied.text
    paid = web.post(path_of(session.url), data={"email": "p@example.com", "promotion_code": "spring", **card(CARD_OK)})
    assert paid.status_code == 303
    done = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert done.amount_total == 1500
    assert done.total_details.amount_discount == 500
    assert stripe_client.v1.promotion_codes.retrieve(promo.id).times_redeemed == 1


def test_promotion_code_errors_show_next_to_the_code_field(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    _promo(stripe_client, "ONCE", max_redemptions=1)
    first = subscription_session(stripe_client, catalog, allow_promotion_codes=True)
    assert (
        web.post(
            path_of(first.url), data={"email": "a@example.com", "promotion_code": "ONCE", **card(CARD_OK)}
        ).status_code
        == 303
    )
    session = subscription_session(stripe_client, catalog, allow_promotion_codes=True)
    unknown = web.post(path_of(session.url), data={"action": "apply", "promotion_code": "NOPE"})
    assert unknown.status_code == 400
    assert field_error(unknown.text, "promotion_code") == "This code is invalid."
    used_up = web.post(path_of(session.url), data={"email": "b@example.com", "promotion_code": "ONCE", **card(CARD_OK)})
    assert used_up.status_code == 400
    assert "maximum number of redemptions" in (field_error(used_up.text, "promotion_code") or "")
    assert 'value="ONCE"' in used_up.text
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"


def test_three_d_secure_succeeds_on_the_challenge_page(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    session = subscription_session(stripe_client, catalog)
    answer = web.post(path_of(session.url), data={"email": "s@example.com", **card(CARD_3DS)})
    assert answer.status_code == 303
    challenge_path = f"/c/pay/{session.id}/authenticate"
    assert path_of(answer.headers["location"]) == challenge_path
    challenge = web.get(challenge_path)
    assert "Complete authentication" in challenge.text and "Fail authentication" in challenge.text
    assert "3155" in challenge.text
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"
    done = web.post(challenge_path, data={"result": "succeed"})
    assert done.status_code == 303
    assert done.headers["location"] == SUCCESS.replace("{CHECKOUT_SESSION_ID}", session.id)
    finished = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert finished.status == "complete"
    assert stripe_client.v1.subscriptions.retrieve(finished.subscription).status == "active"


def test_failed_three_d_secure_shows_the_failure_and_keeps_the_session_open(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    session = subscription_session(stripe_client, catalog)
    web.post(path_of(session.url), data={"email": "s@example.com", **card(CARD_3DS)})
    failed = web.post(f"/c/pay/{session.id}/authenticate", data={"result": "fail"})
    assert failed.status_code == 402
    assert "unable to authenticate your payment method" in failed.text
    assert f'action="/c/pay/{session.id}"' in failed.text
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"
    # Nothing is waiting any more: the challenge page sends the payer back to the form.
    back = web.get(f"/c/pay/{session.id}/authenticate")
    assert back.status_code == 303 and path_of(back.headers["location"]) == f"/c/pay/{session.id}"


def test_payment_mode_charges_once(web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog) -> None:
    session = stripe_client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [{"price": catalog.pass_once.id, "quantity": 3}],
            "success_url": SUCCESS,
            "cancel_url": CANCEL,
            "submit_type": "pay",
        }
    )
    html = web.get(path_of(session.url)).text
    assert "Pay 3-month pass" in html
    assert "$12.00" in html and ">Pay<" in html
    assert web.post(path_of(session.url), data={"email": "o@example.com", **card(CARD_OK)}).status_code == 303
    done = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert done.payment_status == "paid"
    assert stripe_client.v1.payment_intents.retrieve(done.payment_intent).status == "succeeded"


def test_setup_mode_saves_a_card(web: httpx.Client, stripe_client: stripe.StripeClient) -> None:
    customer = stripe_client.v1.customers.create(params={"email": "setup@example.com"})
    session = stripe_client.v1.checkout.sessions.create(
        params={
            "mode": "setup",
            "currency": "usd",
            "customer": customer.id,
            "success_url": SUCCESS,
        }
    )
    assert ">Save card<" in web.get(path_of(session.url)).text
    assert web.post(path_of(session.url), data=card(CARD_OK)).status_code == 303
    done = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert done.status == "complete" and done.setup_intent


def test_expired_and_unknown_sessions_show_a_clear_page(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    session = subscription_session(stripe_client, catalog)
    stripe_client.v1.checkout.sessions.expire(session.id)
    page = web.get(path_of(session.url))
    assert page.status_code == 410 and "expired" in page.text and 'name="card_number"' not in page.text
    assert f'href="{CANCEL}"' in page.text
    paid = web.post(path_of(session.url), data={"email": "x@example.com", **card(CARD_OK)})
    assert paid.status_code == 410
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "expired"
    assert web.get("/c/pay/cs_test_missing").status_code == 404


def test_values_are_escaped(web: httpx.Client, stripe_client: stripe.StripeClient, sim: Sim) -> None:
    product = stripe_client.v1.products.create(
        params={"name": "<script>alert(1)</script>", "description": '"quoted" & <b>bold</b>'}
    )
    price = stripe_client.v1.prices.create(
        params={"product": product.id, "unit_amount": 700, "currency": "usd", "recurring": {"interval": "month"}}
    )
    session = stripe_client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": price.id, "quantity": 1}],
            "success_url": SUCCESS,
            "cancel_url": 'http://127.0.0.1:9/x?a=1&b="2"',
        }
    )
    html = web.get(path_of(session.url)).text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&quot;quoted&quot; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    assert 'href="http://127.0.0.1:9/x?a=1&amp;b=&quot;2&quot;"' in html
    typed = web.post(path_of(session.url), data={"email": '"><img src=x>', **card(CARD_OK)})
    assert "<img src=x>" not in typed.text and "&quot;&gt;&lt;img src=x&gt;" in typed.text


def test_browserless_completion_matches_the_page(
    sim: Sim, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    """The /_sim control and the page reach the same end state (sanity check of the shared path)."""
    via_page = subscription_session(stripe_client, catalog)
    via_sim = subscription_session(stripe_client, catalog)
    with httpx.Client(base_url=sim.url, trust_env=False) as web:
        assert web.post(path_of(via_page.url), data={"email": "a@example.com", **card(CARD_OK)}).status_code == 303
    assert pay_checkout(sim, via_sim.id, email="a@example.com").status_code == 200
    a = stripe_client.v1.checkout.sessions.retrieve(via_page.id)
    b = stripe_client.v1.checkout.sessions.retrieve(via_sim.id)
    assert (a.status, a.payment_status, a.amount_total) == (b.status, b.payment_status, b.amount_total)


def test_an_email_the_merchant_gave_cannot_be_changed(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    session = subscription_session(stripe_client, catalog, customer_email="fixed@example.com")
    html = web.get(path_of(session.url)).text
    assert 'value="fixed@example.com" readonly' in html
    answer = web.post(path_of(session.url), data={"email": "other@example.com", **card(CARD_OK)})
    assert answer.status_code == 303
    done = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert done.customer_details.email == "fixed@example.com"
    assert stripe_client.v1.customers.retrieve(done.customer).email == "fixed@example.com"


def test_a_malformed_tax_id_is_refused_with_stripes_message_and_nothing_is_saved(
    sim: Sim, web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    session = subscription_session(stripe_client, catalog, tax_id_collection={"enabled": True})
    marker = latest_event_id(stripe_client)
    for typed in ("garbage!!", "DE12345678", "XX123456789"):
        refused = web.post(path_of(session.url), data={"email": "b2b@example.com", "tax_id": typed, **card(CARD_OK)})
        assert refused.status_code == 400
        assert field_error(refused.text, "tax_id") == "Invalid value for eu_vat."
        assert f'value="{typed}"' in refused.text  # kept in the field to be corrected
    assert events_after(stripe_client, marker) == []  # no customer, no card, no subscription
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"
    # The browserless control checks it the same way.
    control = pay_checkout(sim, session.id, tax_id="garbage!!")
    error = control.json()["error"]
    assert control.status_code == 400 and error["code"] == "tax_id_invalid" and error["param"] == "tax_id"
    assert error["message"] == "Invalid value for eu_vat." and error["type"] == "invalid_request_error"
    assert events_after(stripe_client, marker) == []
    spaced = {"email": "b2b@example.com", "tax_id": "de 123 456 789"}
    done = web.post(path_of(session.url), data={**spaced, **card(CARD_OK)})
    assert done.status_code == 303
    finished = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert [t.to_dict() for t in finished.customer_details.tax_ids] == [{"type": "eu_vat", "value": "DE123456789"}]


def test_tax_ids_are_checked_by_their_type(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    for typed, kind in (("GB123456789", "gb_vat"), ("NL123456789B01", "eu_vat"), ("123456789MVA", "no_vat")):
        session = subscription_session(stripe_client, catalog, tax_id_collection={"enabled": True})
        web.post(path_of(session.url), data={"email": "b2b@example.com", "tax_id": typed, **card(CARD_OK)})
        tax_ids = stripe_client.v1.checkout.sessions.retrieve(session.id).customer_details.tax_ids
        assert [t.to_dict() for t in tax_ids] == [{"type": kind, "value": typed}]
    session = subscription_session(stripe_client, catalog, tax_id_collection={"enabled": True})
    refused = web.post(path_of(session.url), data={"email": "b2b@example.com", "tax_id": "GB12345", **card(CARD_OK)})
    assert field_error(refused.text, "tax_id") == "Invalid value for gb_vat."


def test_the_card_is_saved_as_typed_name_and_expiry_included(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    typed = {"card_expiry": "05 / 31", "name": "Grace Hopper"}
    for number in (CARD_OK, CARD_3DS):
        session = subscription_session(stripe_client, catalog)
        answer = web.post(path_of(session.url), data={"email": "g@example.com", **card(number), **typed})
        if number == CARD_3DS:
            answer = web.post(path_of(answer.headers["location"]), data={"result": "succeed"})
        assert answer.status_code == 303
        finished = stripe_client.v1.checkout.sessions.retrieve(session.id)
        sub = stripe_client.v1.subscriptions.retrieve(finished.subscription)
        pm = stripe_client.v1.payment_methods.retrieve(sub.default_payment_method)
        assert pm.billing_details.name == "Grace Hopper" and finished.customer_details.name == "Grace Hopper"
        assert (pm.card.exp_month, pm.card.exp_year) == (5, 2031)


def test_a_failed_challenge_keeps_the_name_on_the_form(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    session = subscription_session(stripe_client, catalog)
    web.post(path_of(session.url), data={"email": "g@example.com", "name": "Grace Hopper", **card(CARD_3DS)})
    failed = web.post(f"/c/pay/{session.id}/authenticate", data={"result": "fail"})
    assert failed.status_code == 402
    assert 'id="name" name="name" autocomplete="cc-name" value="Grace Hopper"' in failed.text
    assert 'name="card_number"' in failed.text and 'value="4000002500003155"' not in failed.text  # another card
