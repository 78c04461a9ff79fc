"""Small builders for billing scenarios in stripesim tests: a catalog, a clocked customer."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import stripe

from tests.support.stripesim import Sim

CARD_OK = "4242424242424242"
CARD_DECLINE = "4000000000000002"
CARD_NO_FUNDS = "4000000000009995"
CARD_3DS = "4000002500003155"
CARD_3DS_ALWAYS = "4000002760003184"
CARD_FAILS_LATER = "4000000000000341"
CARD_DISPUTE = "4000000000000259"


@dataclass
class Catalog:
    basic_month: Any
    pro_month: Any
    pro_year: Any
    advanced_month: Any
    pass_once: Any


def make_catalog(client: stripe.StripeClient) -> Catalog:
    def price(product: str, amount: int, interval: str | None, key: str) -> Any:
        params: dict[str, Any] = {"product": product, "currency": "usd", "unit_amount": amount, "lookup_key": key}
        if interval:
            params["recurring"] = {"interval": interval}
        return client.v1.prices.create(params=params)

    basic = client.v1.products.create(params={"name": "Basic"}).id
    advanced = client.v1.products.create(params={"name": "Advanced"}).id
    pro = client.v1.products.create(params={"name": "Pro"}).id
    pass_product = client.v1.products.create(params={"name": "3-month pass"}).id
    return Catalog(
        basic_month=price(basic, 500, "month", "basic_month"),
        pro_month=price(pro, 1000, "month", "pro_month"),
        pro_year=price(pro, 10000, "year", "pro_year"),
        advanced_month=price(advanced, 700, "month", "advanced_month"),
        pass_once=price(pass_product, 400, None, "pass-3-months"),
    )


def clocked_customer(client: stripe.StripeClient, start: int | None = None, **params: Any) -> tuple[Any, Any]:
    """A test clock frozen at `start` (default: now) and a customer living on it."""
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": start or int(time.time())})
    customer = client.v1.customers.create(params={"test_clock": clock.id, "email": "payer@example.com", **params})
    return clock, customer


def with_card(client: stripe.StripeClient, customer: Any, number: str = CARD_OK) -> Any:
    """Attach a test card and make it the customer's default."""
    pm = client.v1.payment_methods.create(
        params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034}}
    )
    client.v1.payment_methods.attach(pm.id, params={"customer": customer.id})
    client.v1.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": pm.id}})
    return pm


def pay_checkout(sim: Sim, session_id: str, card: str = CARD_OK, **fields: str) -> httpx.Response:
    return httpx.post(
        f"{sim.url}/_sim/checkout/sessions/{session_id}/complete",
        data={"card": card, **fields},
        timeout=30,
        trust_env=False,
    )


def event_types(client: stripe.StripeClient, since_event: str | None = None) -> list[str]:
    """Every event type in order of creation (oldest first)."""
    out: list[str] = []
    params: dict[str, Any] = {"limit": 100}
    for event in client.v1.events.list(params=params).auto_paging_iter():
        if since_event and event.id == since_event:
            break
        out.append(event.type)
    return list(reversed(out))


def subscription_period(sub: Any) -> tuple[int, int]:
    item = sub["items"].data[0]
    return item.current_period_start, item.current_period_end
