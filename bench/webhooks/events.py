"""Real Stripe events for the benchmark, made by driving stripesim as a SaaS would.

Each simulated user gets a customer (with `metadata.user_id`, as paywire sets it), pays a
subscription through Checkout with a test card, and then some of them change seats or
plan (prorated, invoiced now), schedule a cancellation, or buy the one-time pass. stripesim
emits the events Stripe would (customer.*, checkout.session.completed,
customer.subscription.*, invoice.*, payment_intent.*, charge.* …); they are read back from
`/v1/events` oldest first and kept as the exact JSON bodies a webhook delivery carries.
The objects they name stay in stripesim, so a target that re-reads them finds them.
"""

from __future__ import annotations

import concurrent.futures
import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import stripe

# dj-stripe insists on sk_test_ + 24 or more letters and digits (its APIKey regex).
KEY = "sk_test_PaywireBenchWebhooks000000000000"
CARD_OK = "4242424242424242"
PLANS = ("basic_month", "advanced_month", "pro_month", "pro_year", "basic_year")


def client_for(sim_url: str) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": sim_url}, max_network_retries=2)


def catalog_prices(client: stripe.StripeClient) -> dict[str, str]:
    """Lookup key -> price id, for the prices `paywire catalog push` created."""
    prices = client.v1.prices.list(params={"limit": 100, "active": True})
    return {p.lookup_key: p.id for p in prices.auto_paging_iter() if p.lookup_key}


def _checkout(http: httpx.Client, client: stripe.StripeClient, params: dict[str, Any]) -> None:
    session = client.v1.checkout.sessions.create(params=params)
    r = http.post(f"/_sim/checkout/sessions/{session.id}/complete", data={"card": CARD_OK})
    r.raise_for_status()


def one_user(sim_url: str, prices: dict[str, str], n: int, seed: int) -> None:
    """Everything one user does in Stripe; the events follow from it."""
    rng = random.Random(seed * 1_000_003 + n)
    client = client_for(sim_url)
    user = f"bench-user-{n}"
    with httpx.Client(base_url=sim_url, timeout=30, trust_env=False) as http:
        customer = client.v1.customers.create(params={"email": f"{user}@example.com", "metadata": {"user_id": user}})
        plan = PLANS[n % len(PLANS)]
        quantity = rng.randint(1, 5) if plan.startswith("pro") else 1
        _checkout(
            http,
            client,
            {
                "mode": "subscription",
                "customer": customer.id,
                "line_items": [{"price": prices[plan], "quantity": quantity}],
                "success_url": "https://app.example/billing/success?session_id={CHECKOUT_SESSION_ID}",
                "cancel_url": "https://app.example/pricing",
                "client_reference_id": user,
                "metadata": {"user_id": user, "plan": plan.split("_")[0]},
                "subscription_data": {"metadata": {"user_id": user}},
            },
        )
        sub = client.v1.subscriptions.list(params={"customer": customer.id, "limit": 1}).data[0]
        roll = rng.random()
        if roll < 0.30:
            item = sub["items"].data[0]
            target = "pro_month"  # an upgrade to Pro, or one more seat for those on Pro
            client.v1.subscriptions.update(
                sub.id,
                params={
                    "items": [{"id": item.id, "price": prices[target], "quantity": quantity + 1}],
                    "proration_behavior": "always_invoice",
                },
            )
        elif roll < 0.50:
            client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
        elif roll < 0.55:
            client.v1.subscriptions.cancel(sub.id)
        if rng.random() < 0.10 and "pass-3-months" in prices:
            _checkout(
                http,
                client,
                {
                    "mode": "payment",
                    "customer": customer.id,
                    "line_items": [{"price": prices["pass-3-months"], "quantity": 1}],
                    "success_url": "https://app.example/billing/success?session_id={CHECKOUT_SESSION_ID}",
                    "cancel_url": "https://app.example/pricing",
                    "client_reference_id": user,
                    "metadata": {"user_id": user, "product": "pass-3-months"},
                },
            )


def harvest(sim_url: str) -> list[dict[str, Any]]:
    """Every event in stripesim, oldest first, as plain dicts (the webhook bodies)."""
    events: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100}
    with httpx.Client(
        base_url=sim_url, timeout=60, trust_env=False, headers={"Authorization": f"Bearer {KEY}"}
    ) as http:
        while True:
            r = http.get("/v1/events", params=params)
            r.raise_for_status()
            page = r.json()
            events.extend(page["data"])
            if not page.get("has_more") or not page["data"]:
                break
            params["starting_after"] = page["data"][-1]["id"]
    events.reverse()
    return events


def generate(sim_url: str, wanted: int, *, seed: int = 7, threads: int = 4, log: Any = print) -> list[dict[str, Any]]:
    """Drive stripesim until it has emitted at least `wanted` events; return `wanted` of
    them, oldest first (a whole number of users' histories, cut at the end)."""
    client = client_for(sim_url)
    prices = catalog_prices(client)
    missing = [p for p in PLANS if p not in prices]
    if missing:
        raise RuntimeError(f"stripesim lacks catalog prices {missing}: run `paywire catalog push` first")
    started = time.monotonic()
    # Events made before (the catalog's product.created, price.created …) are not part of
    # the run: only what users do is delivered.
    before = {e["id"] for e in harvest(sim_url)}
    users = 0
    have = 0
    batch = max(8, threads * 4)
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        while have < wanted:
            # About 16 events per user; ask for a little more than needed, then count.
            need_users = max(batch, int((wanted - have) / 17) + 1)
            list(pool.map(lambda n: one_user(sim_url, prices, n, seed), range(users, users + need_users)))
            users += need_users
            # stripesim's list has no total_count; walking it is cheap at this size.
            events = [e for e in harvest(sim_url) if e["id"] not in before]
            have = len(events)
            log(f"  stripesim: {users} users, {have} events ({time.monotonic() - started:.0f} s)")
    return events[:wanted]


def save(events: list[dict[str, Any]], path: Path) -> None:
    path.write_text("\n".join(json.dumps(e, separators=(",", ":")) for e in events) + "\n")


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def type_counts(events: list[dict[str, Any]]) -> Counter[str]:
    return Counter(e["type"] for e in events)
