"""3D Secure for payment intents: the page at `next_action.redirect_to_url.url` and its sim control."""

from __future__ import annotations

import re
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import stripe

from tests.stripesim.pages.helpers import card, events_after, latest_event_id, path_of, types
from tests.support.billing_world import CARD_3DS, Catalog, with_card
from tests.support.stripesim import Sim


def sca_subscription(client: stripe.StripeClient, catalog: Catalog) -> tuple[Any, Any, Any]:
    """A subscription whose first invoice waits for 3D Secure; returns (subscription, invoice, intent)."""
    customer = client.v1.customers.create(params={"email": "sca@example.com"})
    with_card(client, customer, CARD_3DS)
    sub = client.v1.subscriptions.create(params={"customer": customer.id, "items": [{"price": catalog.pro_month.id}]})
    invoice = client.v1.invoices.retrieve(sub.latest_invoice)
    intent = client.v1.payment_intents.list(params={"customer": customer.id}).data[0]
    return sub, invoice, intent


def test_invoice_payment_waits_for_authentication_then_succeeds(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    sub, invoice, intent = sca_subscription(stripe_client, catalog)
    assert sub.status == "incomplete" and invoice.status == "open"
    assert intent.status == "requires_action"
    url = intent.next_action.redirect_to_url.url
    assert path_of(url) == f"/authenticate/{intent.id}"
    page = web.get(path_of(url))
    assert page.status_code == 200
    assert "Complete authentication" in page.text and "$10.00" in page.text and "3155" in page.text
    marker = latest_event_id(stripe_client)
    done = web.post(path_of(url), data={"result": "succeed"})
    assert done.status_code == 303
    assert path_of(done.headers["location"]) == f"/invoices/{invoice.id}"
    assert stripe_client.v1.payment_intents.retrieve(intent.id).status == "succeeded"
    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "paid"
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"
    seen = types(events_after(stripe_client, marker))
    assert seen.index("payment_intent.succeeded") < seen.index("invoice.paid")
    assert "customer.subscription.updated" in seen
    # The invoice page it lands on shows the payment.
    assert "Invoice paid" in web.get(f"/invoices/{invoice.id}").text


def test_failed_authentication_leaves_the_invoice_open(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    sub, invoice, intent = sca_subscription(stripe_client, catalog)
    answer = web.post(f"/authenticate/{intent.id}", data={"result": "fail"})
    assert answer.status_code == 303 and path_of(answer.headers["location"]) == f"/invoices/{invoice.id}"
    failed = stripe_client.v1.payment_intents.retrieve(intent.id)
    assert failed.status == "requires_payment_method"
    assert failed.last_payment_error.code == "payment_intent_authentication_failure"
    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "open"
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "incomplete"
    # Nothing left to authenticate: the page says what happened instead of offering buttons.
    page = web.get(f"/authenticate/{intent.id}")
    assert "Complete authentication" not in page.text
    assert "failed authentication" in page.text


def test_return_url_gets_stripes_redirect_parameters(web: httpx.Client, stripe_client: stripe.StripeClient) -> None:
    intent = stripe_client.v1.payment_intents.create(
        params={
            "amount": 2500,
            "currency": "usd",
            "payment_method": "pm_card_authenticationRequired",
            "confirm": True,
            "return_url": "http://127.0.0.1:9/return?order=7",
        }
    )
    assert intent.status == "requires_action"
    assert intent.next_action.redirect_to_url.return_url == "http://127.0.0.1:9/return?order=7"
    done = web.post(path_of(intent.next_action.redirect_to_url.url), data={"result": "succeed"})
    assert done.status_code == 303
    location = urlsplit(done.headers["location"])
    assert (location.netloc, location.path) == ("127.0.0.1:9", "/return")
    query = parse_qs(location.query)
    assert query["order"] == ["7"]
    assert query["payment_intent"] == [intent.id]
    assert query["payment_intent_client_secret"] == [intent.client_secret]
    assert query["redirect_status"] == ["succeeded"]


def test_without_return_url_or_invoice_the_page_shows_the_result(
    web: httpx.Client, stripe_client: stripe.StripeClient
) -> None:
    intent = stripe_client.v1.payment_intents.create(
        params={
            "amount": 900,
            "currency": "usd",
            "payment_method": "pm_card_threeDSecure2Required",
            "confirm": True,
        }
    )
    done = web.post(f"/authenticate/{intent.id}", data={"result": "succeed"})
    assert path_of(done.headers["location"]) == f"/authenticate/{intent.id}"
    assert "Payment complete" in web.get(f"/authenticate/{intent.id}").text
    assert web.get("/authenticate/pi_missing").status_code == 404


def test_sim_control_authenticates_without_a_browser(
    sim: Sim, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    _, invoice, intent = sca_subscription(stripe_client, catalog)
    url = f"{sim.url}/_sim/payment_intents/{intent.id}/authenticate"
    answer = httpx.post(url, data={"result": "succeed"}, trust_env=False)
    assert answer.status_code == 200
    body = answer.json()
    assert body["id"] == intent.id and body["status"] == "succeeded" and body["object"] == "payment_intent"
    assert not any(k.startswith("_") for k in body)
    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "paid"
    again = httpx.post(url, data={"result": "succeed"}, trust_env=False)
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "payment_intent_unexpected_state"
    bad = httpx.post(url, data={"result": "maybe"}, trust_env=False)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "result"
    missing = httpx.post(f"{sim.url}/_sim/payment_intents/pi_nope/authenticate", data={}, trust_env=False)
    assert missing.status_code == 404


def test_sim_control_can_fail_authentication(sim: Sim, stripe_client: stripe.StripeClient, catalog: Catalog) -> None:
    _, invoice, intent = sca_subscription(stripe_client, catalog)
    marker = latest_event_id(stripe_client)
    answer = httpx.post(
        f"{sim.url}/_sim/payment_intents/{intent.id}/authenticate", data={"result": "fail"}, trust_env=False
    )
    assert answer.json()["status"] == "requires_payment_method"
    assert "payment_intent.payment_failed" in types(events_after(stripe_client, marker))
    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "open"


def merchant_cell(page: str) -> str:
    found = re.search(r'<td>Merchant</td><td class="num">([^<]*)</td>', page)
    assert found, page[:500]
    return unescape(found.group(1))


def test_challenge_names_the_merchant_by_the_accounts_business_name(
    sim: Sim, web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    _, _, intent = sca_subscription(stripe_client, catalog)
    assert merchant_cell(web.get(f"/authenticate/{intent.id}").text) == "stripesim"  # the account's default name
    sim.control("account", {"business_profile": {"name": "Acme <Labs>"}})
    assert stripe_client.v1.accounts.retrieve_current().business_profile.name == "Acme <Labs>"
    page = web.get(f"/authenticate/{intent.id}").text
    assert merchant_cell(page) == "Acme <Labs>" and "Acme &lt;Labs&gt;" in page
    # Without a business name, the dashboard's display name is the one the account shows.
    sim.control("account", {"business_profile": {"name": ""}, "settings": {"dashboard": {"display_name": "Acme HQ"}}})
    assert merchant_cell(web.get(f"/authenticate/{intent.id}").text) == "Acme HQ"


def test_checkout_challenge_names_the_merchant_too(
    sim: Sim, web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    sim.control("account", {"business_profile": {"name": "Acme"}})
    session = stripe_client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": catalog.pro_month.id, "quantity": 1}],
            "success_url": "http://127.0.0.1:9/done",
        }
    )
    answer = web.post(path_of(session.url), data={"email": "s@example.com", **card(CARD_3DS)})
    challenge = web.get(path_of(answer.headers["location"])).text
    assert merchant_cell(challenge) == "Acme"


def test_account_control_refuses_what_it_does_not_know(sim: Sim) -> None:
    answer = httpx.post(
        f"{sim.url}/_sim/account", json={"business_profile": {"mcc": "5734"}}, timeout=30, trust_env=False
    )
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "business_profile[mcc]"
