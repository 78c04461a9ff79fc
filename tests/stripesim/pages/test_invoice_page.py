"""The hosted invoice page (`hosted_invoice_url`): showing an invoice and paying it on-session."""

from __future__ import annotations

import re
from typing import Any

import httpx
import stripe

from tests.stripesim.pages.helpers import card, dollars, events_after, figure, latest_event_id, path_of, types
from tests.support.billing_world import CARD_3DS, CARD_DECLINE, CARD_OK, Catalog, with_card
from tests.support.stripesim import Sim


def unpaid_subscription(client: stripe.StripeClient, catalog: Catalog) -> tuple[Any, Any]:
    """A subscription whose first invoice was declined: (subscription, open invoice)."""
    customer = client.v1.customers.create(params={"email": "owed@example.com", "name": "Owen"})
    with_card(client, customer, CARD_DECLINE)
    sub = client.v1.subscriptions.create(params={"customer": customer.id, "items": [{"price": catalog.pro_month.id}]})
    return sub, client.v1.invoices.retrieve(sub.latest_invoice)


def test_paid_invoice_page_receipt_and_printable_copy(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    customer = stripe_client.v1.customers.create(params={"email": "paid@example.com"})
    with_card(stripe_client, customer, CARD_OK)
    sub = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": catalog.pro_month.id, "quantity": 3}]}
    )
    invoice = stripe_client.v1.invoices.retrieve(sub.latest_invoice)
    assert invoice.status == "paid"
    page = web.get(path_of(invoice.hosted_invoice_url))
    assert page.status_code == 200
    html = page.text
    assert invoice.number in html and "Invoice paid" in html and "$30.00" in html and "Qty 3" in html
    assert "paid@example.com" in html
    assert 'name="card_number"' not in html
    assert f'href="/invoices/{invoice.id}/pdf"' in html
    printable = web.get(path_of(invoice.invoice_pdf))
    assert printable.status_code == 200 and printable.headers["content-type"].startswith("text/html")
    assert "printable HTML, not as a PDF" in printable.text and invoice.number in printable.text
    charge = stripe_client.v1.charges.list(params={"customer": customer.id}).data[0]
    assert f'href="{charge.receipt_url}"' in html
    receipt = web.get(path_of(charge.receipt_url))
    assert receipt.status_code == 200
    assert "Receipt from stripesim" in receipt.text and "$30.00" in receipt.text and "4242" in receipt.text
    assert invoice.number in receipt.text
    assert web.get("/receipts/ch_missing").status_code == 404


def test_open_invoice_is_paid_with_a_card_on_the_page(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    sub, invoice = unpaid_subscription(stripe_client, catalog)
    assert invoice.status == "open" and sub.status == "incomplete"
    page = web.get(path_of(invoice.hosted_invoice_url))
    assert "Invoice due" in page.text and 'name="card_number"' in page.text and "Pay $10.00" in page.text
    marker = latest_event_id(stripe_client)
    declined = web.post(path_of(invoice.hosted_invoice_url), data=card(CARD_DECLINE))
    assert declined.status_code == 402 and "Your card was declined." in declined.text
    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "open"
    paid = web.post(path_of(invoice.hosted_invoice_url), data=card("4242 4242 4242 4242", name="Owen"))
    assert paid.status_code == 303 and path_of(paid.headers["location"]) == f"/invoices/{invoice.id}"
    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "paid"
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"
    seen = types(events_after(stripe_client, marker))
    assert seen.count("payment_method.attached") == 2  # the declined card and the good one
    assert "invoice.payment_failed" in seen and "invoice.paid" in seen
    cards = stripe_client.v1.customers.payment_methods.list(sub.customer).data
    assert {pm.card.last4 for pm in cards} >= {"4242", "0002"}
    paying = next(pm for pm in cards if pm.card.last4 == "4242")
    assert paying.billing_details.name == "Owen"  # the name typed on the page is kept on the card
    assert "Invoice paid" in web.get(f"/invoices/{invoice.id}").text


def test_card_needing_authentication_goes_through_the_challenge(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    _, invoice = unpaid_subscription(stripe_client, catalog)
    answer = web.post(path_of(invoice.hosted_invoice_url), data=card(CARD_3DS))
    assert answer.status_code == 303
    challenge = answer.headers["location"]
    assert challenge.startswith("/authenticate/pi_")
    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "open"
    done = web.post(challenge, data={"result": "succeed"})
    assert path_of(done.headers["location"]) == f"/invoices/{invoice.id}"
    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "paid"


def test_invoice_waiting_for_authentication_links_to_the_challenge(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    customer = stripe_client.v1.customers.create(params={"email": "sca@example.com"})
    with_card(stripe_client, customer, CARD_3DS)
    sub = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": catalog.pro_month.id}]}
    )
    invoice = stripe_client.v1.invoices.retrieve(sub.latest_invoice)
    intent = stripe_client.v1.payment_intents.list(params={"customer": customer.id}).data[0]
    page = web.get(path_of(invoice.hosted_invoice_url)).text
    assert "Your bank needs you to confirm this payment." in page
    assert f'href="/authenticate/{intent.id}"' in page
    web.post(f"/authenticate/{intent.id}", data={"result": "succeed"})
    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "paid"
    assert "Your bank needs you" not in web.get(path_of(invoice.hosted_invoice_url)).text


def test_incomplete_card_fields_are_reported(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    _, invoice = unpaid_subscription(stripe_client, catalog)
    answer = web.post(path_of(invoice.hosted_invoice_url), data={"card_number": "4242"})
    assert answer.status_code == 400
    assert "Your card&#x27;s expiration date is incomplete." in answer.text
    wrong = web.post(path_of(invoice.hosted_invoice_url), data=card("1234 5678 9012 3456"))
    assert wrong.status_code == 402 and "Your card number is incorrect." in wrong.text
    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "open"


def test_send_invoice_void_and_draft_invoices(web: httpx.Client, stripe_client: stripe.StripeClient) -> None:
    customer = stripe_client.v1.customers.create(params={"email": "bill@example.com"})
    stripe_client.v1.invoice_items.create(
        params={"customer": customer.id, "amount": 4200, "currency": "usd", "description": "Consulting <1 hour>"}
    )
    draft = stripe_client.v1.invoices.create(
        params={
            "customer": customer.id,
            "collection_method": "send_invoice",
            "days_until_due": 30,
            "pending_invoice_items_behavior": "include",
        }
    )
    assert draft.hosted_invoice_url is None
    assert web.get(f"/invoices/{draft.id}").status_code == 404
    invoice = stripe_client.v1.invoices.finalize_invoice(draft.id)
    page = web.get(path_of(invoice.hosted_invoice_url)).text
    assert "Consulting &lt;1 hour&gt;" in page and "$42.00" in page and "Due " in page
    assert "Pay $42.00" in page
    stripe_client.v1.invoices.void_invoice(invoice.id)
    void = web.get(path_of(invoice.hosted_invoice_url))
    assert "This invoice is void and cannot be paid." in void.text and 'name="card_number"' not in void.text
    refused = web.post(path_of(invoice.hosted_invoice_url), data=card(CARD_OK))
    assert refused.status_code == 303
    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "void"


def test_amounts_paid_are_positive_and_a_credit_is_an_applied_balance(
    web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    customer = stripe_client.v1.customers.create(params={"email": "credit@example.com"})
    with_card(stripe_client, customer, CARD_OK)
    sub = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": catalog.basic_month.id}]}
    )
    item = sub["items"].data[0].id

    def change_to(price: Any) -> Any:
        changed = stripe_client.v1.subscriptions.update(
            sub.id, params={"items": [{"id": item, "price": price.id}], "proration_behavior": "always_invoice"}
        )
        invoice = stripe_client.v1.invoices.retrieve(changed.latest_invoice)
        return invoice, web.get(path_of(invoice.hosted_invoice_url)).text

    # $5 → $7 a moment into the month: about $2.00 charged now, and paid.
    upgrade, page = change_to(catalog.advanced_month)
    assert upgrade.status == "paid" and 190 <= upgrade.amount_paid <= 200
    assert figure(page, "amount-paid") == dollars(upgrade.amount_paid)
    assert figure(page, "amount-due") == dollars(upgrade.amount_due)
    assert "Amount paid" in page and f"-{dollars(upgrade.amount_paid)}" not in page
    assert figure(page, "applied-balance") is None

    # Back to $5: a negative invoice, nothing paid, the difference credited to the balance.
    downgrade, page = change_to(catalog.basic_month)
    assert downgrade.total < 0 and downgrade.amount_paid == 0 and downgrade.ending_balance == downgrade.total
    assert figure(page, "applied-balance") == dollars(-downgrade.total)
    assert figure(page, "amount-due") == "$0.00" and figure(page, "amount-paid") is None

    # The next invoice uses the credit: what the card paid is the rest, shown positive.
    credit = stripe_client.v1.customers.retrieve(customer.id).balance
    assert credit == downgrade.total
    stripe_client.v1.invoice_items.create(params={"customer": customer.id, "amount": 1000, "currency": "usd"})
    draft = stripe_client.v1.invoices.create(
        params={"customer": customer.id, "pending_invoice_items_behavior": "include"}
    )
    stripe_client.v1.invoices.finalize_invoice(draft.id)
    paid = stripe_client.v1.invoices.pay(draft.id)
    assert paid.status == "paid" and paid.starting_balance == credit and paid.amount_paid == 1000 + credit
    page = web.get(path_of(paid.hosted_invoice_url)).text
    assert figure(page, "applied-balance") == dollars(credit)
    assert figure(page, "amount-due") == dollars(1000 + credit) == figure(page, "amount-paid")
    printable = web.get(path_of(paid.invoice_pdf)).text
    assert figure(printable, "amount-paid") == dollars(1000 + credit)


def test_the_page_leads_back_to_the_merchant(
    sim: Sim, web: httpx.Client, stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    _, invoice = unpaid_subscription(stripe_client, catalog)
    plain = web.get(path_of(invoice.hosted_invoice_url)).text
    assert 'id="merchant-link"' not in plain and 'id="support"' not in plain  # no public details yet
    sim.control(
        "account",
        {
            "business_profile": {
                "name": "Acme",
                "url": "https://acme.example.com/",
                "support_email": "help@acme.example.com",
                "support_url": "https://acme.example.com/help",
            }
        },
    )
    page = web.get(path_of(invoice.hosted_invoice_url)).text
    link = re.search(r'<a class="brandlink" id="merchant-link" href="([^"]*)">(.*?)</a>', page)
    assert link and link.group(1) == "https://acme.example.com/" and ">Acme<" in link.group(2)
    assert 'href="mailto:help@acme.example.com"' in page and 'href="https://acme.example.com/help"' in page
    assert "<title>Invoice " in page and " · Acme</title>" in page
