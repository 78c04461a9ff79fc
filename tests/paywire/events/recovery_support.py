"""Helpers for the recovery, sync and operations tests: `paywire` as a real process against
the test database and stripesim, and a world where webhook deliveries are lost."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import stripe

from paywire.db.repositories import invoices, subscriptions
from tests.paywire.conftest import Service
from tests.support.stripesim import TEST_KEY, Sim

PAYWIRE = [sys.executable, "-m", "paywire.cli.main"]


def cli_env(service: Service, sim: Sim, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "PAYWIRE_"))}
    env.pop("DATABASE_URL", None)
    env.update(
        DATABASE_URL=service.settings.database_url,
        STRIPE_SECRET_KEY=TEST_KEY,
        STRIPE_API_BASE=sim.url,
        PAYWIRE_STRIPE_RATE_LIMIT_BACKOFF="0.05",
        PAYWIRE_LOG_LEVEL="WARNING",
    )
    env.update(values)
    return env


def run_paywire(
    service: Service, sim: Sim, *args: str, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    """`paywire …` in its own process; its output as text."""
    return subprocess.run(
        [*PAYWIRE, *args],
        env=cli_env(service, sim, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def lose_deliveries(sim: Sim) -> None:
    """Every webhook delivery from now on fails, and Stripe's retry is an hour away."""
    sim.control("config", {"webhook_retry_base_s": 3600})
    sim.control("faults", {"webhooks": {"fail_first": 1_000_000}})


def subscription_drift(
    service: Service, client: stripe.StripeClient, subscription_id: str, *, invoices_too: bool = True
) -> dict[str, Any]:
    """What differs between the mirrored subscription (and its invoices) and Stripe (empty: equal)."""
    fresh = client.v1.subscriptions.retrieve(subscription_id, params={"expand": ["items.data.price"]}).to_dict()
    stripe_invoices = client.v1.invoices.list(params={"subscription": subscription_id}).data if invoices_too else []
    items = fresh["items"]["data"]
    expected = {
        "status": fresh["status"],
        "cancel_at_period_end": fresh["cancel_at_period_end"],
        "quantity": sum(i["quantity"] for i in items),
        "current_period_end": min(i["current_period_end"] for i in items),
        "items": sorted((i["id"], i["price"]["id"], i["quantity"]) for i in items),
        **{i.id: i.status for i in stripe_invoices},
    }
    with service.sessions() as session:
        row = subscriptions.find(session, subscription_id)
        if row is None:
            return {"row": "missing"}
        mirrored = {
            "status": row.status,
            "cancel_at_period_end": row.cancel_at_period_end,
            "quantity": row.quantity,
            "current_period_end": row.current_period_end,
            "items": sorted((i.id, i.price_id, i.quantity) for i in row.items),
        }
        for invoice in stripe_invoices:
            found = invoices.find(session, invoice.id)
            mirrored[invoice.id] = found.status if found else None
    return {k: (mirrored.get(k), v) for k, v in expected.items() if mirrored.get(k) != v}
