"""GET /api/billing/payments against stripesim: one-time purchases and subscription invoices
alike, newest first, each with its invoice and receipt; buying the pass again is a new
Checkout (never the finished one) that extends access from the current end."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from paywire.db.repositories import customers, orders
from tests.paywire.billing.subscribers import FEB_1, Subscriber, on_a_clock, wait_for
from tests.paywire.conftest import Service
from tests.support.stripesim import Sim

MAY_1 = 1_777_593_600  # 2026-05-01T00:00:00Z: FEB_1 + 3 calendar months
AUG_1 = 1_785_542_400  # 2026-08-01T00:00:00Z: MAY_1 + 3 calendar months
PASS = {"product": "pass-3-months"}


def payments(subscriber: Subscriber) -> list[dict[str, Any]]:
    with subscriber.service.http() as http:
        answer = http.get("/api/billing/payments", headers=subscriber.headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    found: list[dict[str, Any]] = answer.json()["data"]
    return found


def listed(subscriber: Subscriber, count: int) -> list[dict[str, Any]]:
    """The payments, once `count` of them are listed paid, with their invoice and receipt links
    (a subscription's invoice is listed from its finalization, still open until invoice.paid)."""

    def complete() -> list[dict[str, Any]] | None:
        found = payments(subscriber)
        done = len(found) == count and all(p["invoice_url"] and p["status"] == "paid" for p in found)
        return found if done else None

    return wait_for(f"{count} payments listed", complete)


def test_buying_the_pass_twice_lists_two_paid_purchases_and_extends_access(paywire_service: Service, sim: Sim) -> None:
    buyer = on_a_clock(paywire_service, sim, "pass_buyer")
    first = buyer.ok("/api/checkout", PASS)
    assert buyer.ok("/api/checkout", PASS)["id"] == first["id"]  # a retried click: the same session
    assert sim.complete_checkout(first["id"]).status_code == 200

    # At once, before the webhook is processed: a new purchase, never the paid session again.
    second = buyer.ok("/api/checkout", PASS)
    assert second["id"] != first["id"]
    assert buyer.ok("/api/checkout", PASS)["id"] == second["id"]
    [one] = listed(buyer, 1)
    assert one == {
        "id": first["id"],
        "kind": "purchase",
        "date": FEB_1,
        "description": "3-month Basic pass",
        "amount": 400,
        "currency": "usd",
        "status": "paid",
        "invoice_url": one["invoice_url"],
        "receipt_url": one["receipt_url"],
    }
    assert buyer.billing()["access_until"] == MAY_1
    assert sim.complete_checkout(second["id"]).status_code == 200

    newest, oldest = listed(buyer, 2)
    assert (newest["id"], oldest["id"]) == (second["id"], first["id"])
    assert newest["receipt_url"] != oldest["receipt_url"] and newest["invoice_url"] != oldest["invoice_url"]
    wait_for("access extended from the first pass's end", lambda: buyer.billing()["access_until"] == AUG_1)
    billing = buyer.billing()
    assert (billing["plan"], billing["source"], billing["current_period_end"]) == ("basic", "pass", AUG_1)
    for payment in (newest, oldest):
        receipt = httpx.get(payment["receipt_url"], trust_env=False)
        invoice = httpx.get(payment["invoice_url"], trust_env=False)
        assert receipt.status_code == invoice.status_code == 200
        assert "$4.00" in receipt.text and "Paid" in invoice.text
    with paywire_service.sessions() as session:
        customer = customers.find_by_user(session, buyer.user_id)
        assert customer is not None
    stripe_invoices = sim.client().v1.invoices.list(params={"customer": customer.stripe_customer_id}).data
    assert sorted((i.status, i.total, i.metadata["product"]) for i in stripe_invoices) == [
        ("paid", 400, "pass-3-months"),
        ("paid", 400, "pass-3-months"),
    ]


def test_subscription_invoices_and_purchases_are_listed_together(paywire_service: Service, sim: Sim) -> None:
    buyer = on_a_clock(paywire_service, sim, "both")
    bought = buyer.ok("/api/checkout", PASS)["id"]
    assert sim.complete_checkout(bought).status_code == 200
    listed(buyer, 1)
    subscribed = buyer.ok("/api/checkout", {"plan": "pro", "interval": "month", "quantity": 2})["id"]
    assert sim.complete_checkout(subscribed).status_code == 200

    invoice, purchase = listed(buyer, 2)

    assert (invoice["kind"], invoice["description"], invoice["amount"]) == ("subscription", "Pro subscription", 2000)
    assert invoice["id"].startswith("in_") and invoice["status"] == "paid"
    assert (purchase["kind"], purchase["id"]) == ("purchase", bought)


def test_payments_need_a_token_and_start_empty(paywire_service: Service) -> None:
    with paywire_service.http() as http:
        anonymous = http.get("/api/billing/payments")
        empty = http.get("/api/billing/payments", headers=paywire_service.headers_for("nobody"))
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["message"] == "Missing bearer token."
    assert empty.status_code == 200 and empty.json() == {"data": []}


def test_clicks_racing_on_buy_again_make_one_purchase(paywire_service: Service, sim: Sim) -> None:
    buyer = on_a_clock(paywire_service, sim, "racer")
    first = buyer.ok("/api/checkout", PASS)["id"]
    assert sim.complete_checkout(first).status_code == 200
    barrier = threading.Barrier(5)

    def click(_: int) -> str:
        barrier.wait()
        return str(buyer.ok("/api/checkout", PASS)["id"])

    with ThreadPoolExecutor(5) as pool:
        again = set(pool.map(click, range(5)))

    assert len(again) == 1 and first not in again
    with paywire_service.sessions() as session:
        placed = [o.checkout_session_id for o in orders.for_user(session, "racer")]
    assert sorted(placed) == sorted([first, *again])
