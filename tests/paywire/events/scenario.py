"""Business operations driven against stripesim as users and Stripe would make them, and the
comparison of paywire's mirror with Stripe's state read fresh (what "converged" means in
the convergence, crash and many-worker tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import stripe

from paywire.catalog import Catalog
from paywire.db.repositories import invoices, orders, subscriptions
from tests.paywire.conftest import Service
from tests.support.stripesim import Sim

CARD_OK = "4242424242424242"


@dataclass
class Activity:
    """What a scenario made in Stripe, to compare with the mirror afterwards."""

    subscriptions: set[str] = field(default_factory=set)
    pass_sessions: set[str] = field(default_factory=set)
    clocks: dict[str, int] = field(default_factory=dict)  # clock id -> frozen time


def checkout(service: Service, sim: Sim, user_id: str, body: dict[str, Any], card: str = CARD_OK) -> tuple[str, int]:
    """Start Checkout through paywire's API and pay on stripesim; (session id, pay status)."""
    headers = service.headers_for(user_id, f"{user_id}@example.com")
    with service.http() as http:
        response = http.post("/api/checkout", json=body, headers=headers)
    assert response.status_code == 200, response.text
    session_id = str(response.json()["id"])
    paid = sim.complete_checkout(session_id, card)
    return session_id, paid.status_code


def subscribe(
    service: Service, sim: Sim, activity: Activity, user_id: str, plan: str, interval: str, quantity: int = 1
) -> str | None:
    body = {"plan": plan, "interval": interval}
    if plan == "pro":
        body["quantity"] = quantity  # type: ignore[assignment]
    session_id, status = checkout(service, sim, user_id, body)
    assert status == 200, status
    subscription_id = sim.client().v1.checkout.sessions.retrieve(session_id).subscription
    if isinstance(subscription_id, str):
        activity.subscriptions.add(subscription_id)
        return subscription_id
    return None


def buy_pass(service: Service, sim: Sim, activity: Activity, user_id: str) -> str:
    session_id, status = checkout(service, sim, user_id, {"product": "pass-3-months"})
    assert status == 200, status
    activity.pass_sessions.add(session_id)
    return session_id


def change_seats(client: stripe.StripeClient, subscription_id: str, quantity: int) -> None:
    item = client.v1.subscriptions.retrieve(subscription_id)["items"].data[0]
    client.v1.subscriptions.update(subscription_id, params={"items": [{"id": item.id, "quantity": quantity}]})


def change_plan(client: stripe.StripeClient, subscription_id: str, lookup_key: str) -> None:
    """An upgrade as paywire makes it: the new price now, the difference invoiced at once."""
    [price] = client.v1.prices.list(params={"lookup_keys": [lookup_key]}).data
    sub = client.v1.subscriptions.retrieve(subscription_id)
    item = sub["items"].data[0]
    client.v1.subscriptions.update(
        subscription_id,
        params={"items": [{"id": item.id, "price": price.id}], "proration_behavior": "always_invoice"},
    )


def set_cancel_at_period_end(client: stripe.StripeClient, subscription_id: str, cancel: bool) -> None:
    client.v1.subscriptions.update(subscription_id, params={"cancel_at_period_end": cancel})


def cancel_now(client: stripe.StripeClient, subscription_id: str) -> None:
    client.v1.subscriptions.cancel(subscription_id)


def expected_plan(catalog: Catalog, stripe_subscription: dict[str, Any]) -> tuple[str | None, str | None]:
    for item in stripe_subscription["items"]["data"]:
        found = catalog.plan_for_lookup_key(item["price"].get("lookup_key"))
        if found is not None:
            return found
    return None, None


def mirror_differences(service: Service, sim: Sim, catalog: Catalog, activity: Activity) -> dict[str, Any]:
    """Everything in which the mirror differs from Stripe's current state for the objects of
    `activity`: subscriptions (and items, plan), their invoices, pass orders. Empty: equal."""
    client = sim.client()
    differences: dict[str, Any] = {}
    with service.sessions() as session:
        for subscription_id in sorted(activity.subscriptions):
            fresh = client.v1.subscriptions.retrieve(subscription_id, params={"expand": ["items.data.price"]}).to_dict()
            row = subscriptions.find(session, subscription_id)
            if row is None:
                differences[subscription_id] = "missing"
                continue
            items = fresh["items"]["data"]
            expected = {
                "status": fresh["status"],
                "cancel_at_period_end": fresh["cancel_at_period_end"],
                "quantity": sum(i["quantity"] or 0 for i in items) or 1,
                "current_period_end": min(i["current_period_end"] for i in items),
                "items": sorted((i["id"], i["price"]["id"], i["quantity"]) for i in items),
                "plan": expected_plan(catalog, fresh),
            }
            mirrored = {
                "status": row.status,
                "cancel_at_period_end": row.cancel_at_period_end,
                "quantity": row.quantity,
                "current_period_end": row.current_period_end,
                "items": sorted((i.id, i.price_id, i.quantity) for i in row.items),
                "plan": (row.plan, row.interval),
            }
            for key, value in expected.items():
                if mirrored[key] != value:
                    differences[f"{subscription_id}.{key}"] = (mirrored[key], value)
            for invoice in client.v1.invoices.list(params={"subscription": subscription_id, "limit": 100}).data:
                stored = invoices.find(session, invoice.id)
                want = (invoice.status, invoice.amount_paid, invoice.amount_remaining, invoice.attempt_count)
                have = (
                    (stored.status, stored.amount_paid, stored.amount_remaining, stored.attempt_count)
                    if stored
                    else None
                )
                if have != want:
                    differences[invoice.id] = (have, want)
        for session_id in sorted(activity.pass_sessions):
            checkout_session = client.v1.checkout.sessions.retrieve(session_id)
            order = orders.find_by_checkout_session(session, session_id)
            want_status = "fulfilled" if checkout_session.payment_status == "paid" else "pending"
            if order is None or order.status != want_status:
                differences[session_id] = (order.status if order else None, want_status)
    return differences


def sim_is_quiet(sim: Sim) -> bool:
    """stripesim has made every delivery it means to (retries of failed ones included)."""
    attempts = sim.get("webhooks/attempts")
    return bool(attempts["pending"] == 0)


def retry_failed_deliveries_now(sim: Sim) -> None:
    """Stripe retries failed deliveries for days; stripesim on request, at once."""
    httpx.post(f"{sim.url}/_sim/webhooks/retry_now", timeout=30, trust_env=False).raise_for_status()
