"""A scripted history through paywire and stripesim on one test clock, with MRR and every
movement computed by hand below, day by day; then `paywire sync` on an empty database
rebuilds the same figures from Stripe alone.

All customers live on one clock from 2026-02-01. Prices (the default catalog): basic 5.00,
advanced 7.00, pro 10.00 a seat a month, pro 100.00 a year (8.33 a month).

    Feb 1   alice basic, bob pro x2, carol pro yearly, dan basic, eve advanced, fay basic,
            gus advanced (new, 7 customers: 5733); hal and ivy start 14-day trials (0);
            jo buys the one-time pass (not MRR)
    Feb 5   dan: forever 20 % off (-100 contraction); eve: 50 % off for 3 months (no movement)
    Feb 10  alice basic -> pro (+500 expansion); bob downgrades to basic at the period end;
            fay cancels at the period end; gus's card will fail from now on
    Feb 15  hal's trial converts (+500 new); ivy's ends without a card: canceled, no movement
    Feb 20  alice 1 -> 3 seats (+2000 expansion)
    Mar 1   renewals: fay churns (-500 voluntary), bob becomes basic (-1500 contraction),
            gus's renewal fails (past due: still MRR while dunning retries)
    Mar 15  gus's last retry fails: Stripe cancels (-700 involuntary churn)
    Mar 20  fay comes back on pro (+1000 reactivation)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import stripe
from sqlalchemy import select

from paywire.billing.customers import get_or_create_customer
from paywire.catalog import load_catalog
from paywire.db.engine import make_engine, make_session_factory
from paywire.db.migrate import upgrade_to_head
from paywire.db.models import Order
from paywire.insights.report import operator_report
from paywire.insights.windows import Window
from paywire.reconcile.resources import SyncContext
from paywire.reconcile.sync import sync_mirror
from tests.paywire.billing.subscribers import DAY, FEB_1, MAR_1, Subscriber, wait_for
from tests.paywire.conftest import Service, _reset_postgres
from tests.paywire.events.conftest import metric
from tests.paywire.events.recovery_support import run_paywire
from tests.support.billing_world import CARD_FAILS_LATER, with_card
from tests.support.stripesim import Sim

FEB_5, FEB_10, FEB_15, FEB_20 = FEB_1 + 4 * DAY, FEB_1 + 9 * DAY, FEB_1 + 14 * DAY, FEB_1 + 19 * DAY
MAR_15, MAR_16, MAR_20 = MAR_1 + 14 * DAY, MAR_1 + 15 * DAY, MAR_1 + 19 * DAY
END = MAR_1 + 21 * DAY  # the report covers 1 Feb to 21 Mar (exclusive)

# MRR at the end of each day, by hand.
MRR_FROM = [
    (FEB_1, 5733),
    (FEB_5, 5633),
    (FEB_10, 6133),
    (FEB_15, 6633),
    (FEB_20, 8633),
    (MAR_1, 6633),
    (MAR_15, 5933),
    (MAR_20, 6933),
]
# Movements by day, by hand (signed).
MOVEMENTS = {
    "2026-02-01": {"new": 5733},
    "2026-02-05": {"contraction": -100},
    "2026-02-10": {"expansion": 500},
    "2026-02-15": {"new": 500},
    "2026-02-20": {"expansion": 2000},
    "2026-03-01": {"churn": -500, "contraction": -1500},
    "2026-03-15": {"churn": -700},
    "2026-03-20": {"reactivation": 1000},
}


def expected_mrr(day_start: int) -> int:
    return [value for since, value in MRR_FROM if since <= day_start][-1]


def promotion(client: stripe.StripeClient, code: str, **coupon: Any) -> None:
    made = client.v1.coupons.create(params=coupon)
    client.v1.promotion_codes.create(params={"promotion": {"type": "coupon", "coupon": made.id}, "code": code})


class World:
    """The test's customers, all on one clock."""

    def __init__(self, service: Service, sim: Sim) -> None:
        self.service, self.sim, self.client = service, sim, sim.client()
        self.clock = str(self.client.v1.test_helpers.test_clocks.create(params={"frozen_time": FEB_1}).id)
        self.people: dict[str, Subscriber] = {}
        self.customers: dict[str, str] = {}

    def person(self, user_id: str) -> Subscriber:
        subscriber = Subscriber(self.service, self.sim, user_id, self.clock)
        with self.service.sessions() as session:
            row = get_or_create_customer(
                session, subscriber.gateway, user_id=user_id, email=f"{user_id}@example.com", test_clock=self.clock
            )
            self.customers[user_id] = row.stripe_customer_id
        self.people[user_id] = subscriber
        return subscriber

    def trial(self, user_id: str, *, card: bool) -> None:
        """A 14-day basic trial made in Stripe (as an app's own code would), with or without a card."""
        self.person(user_id)
        customer = self.client.v1.customers.retrieve(self.customers[user_id])
        if card:
            with_card(self.client, customer)
        [price] = self.client.v1.prices.list(params={"lookup_keys": ["basic_month"]}).data
        self.client.v1.subscriptions.create(
            params={
                "customer": customer.id,
                "items": [{"price": price.id}],
                "trial_period_days": 14,
                "metadata": {"user_id": user_id},
                "trial_settings": {"end_behavior": {"missing_payment_method": "cancel"}},
            }
        )

    def advance(self, to: int) -> None:
        next(iter(self.people.values())).advance(to)

    def settle(self) -> None:
        next(iter(self.people.values())).settle()


def report(sessions: Any) -> dict[str, Any]:
    with sessions() as session:
        return operator_report(session, Window(FEB_1, END, "day"))


def figures(found: dict[str, Any]) -> dict[str, Any]:
    """What must be the same however the ledger was made: MRR and movements day by day."""
    series = found["revenue"]["series"]
    return {
        p["label"]: (p["mrr"], {k: p[k] for k in ("new", "expansion", "contraction", "churn", "reactivation") if p[k]})
        for p in series
    }


@pytest.mark.timeout(600)
def test_a_scripted_history_gives_mrr_and_movements_by_hand_and_sync_rebuilds_them(
    make_paywire_service: Callable[..., Service], sim: Sim, database_url: str
) -> None:
    paywire_service = make_paywire_service(PAYWIRE_ADMIN_USERS="root")
    world = World(paywire_service, sim)
    client = world.client
    promotion(client, "FOREVER20", percent_off=20, duration="forever")
    promotion(client, "HALF3", percent_off=50, duration="repeating", duration_in_months=3)
    for user_id, plan, interval, quantity in [
        ("alice", "basic", "month", 1),
        ("bob", "pro", "month", 2),
        ("carol", "pro", "year", 1),
        ("dan", "basic", "month", 1),
        ("eve", "advanced", "month", 1),
        ("fay", "basic", "month", 1),
        ("gus", "advanced", "month", 1),
    ]:
        world.person(user_id).subscribe(plan, interval, quantity)
    world.trial("hal", card=True)
    world.trial("ivy", card=False)
    jo = world.person("jo")
    assert sim.complete_checkout(jo.ok("/api/checkout", {"product": "pass-3-months"})["id"]).status_code == 200
    world.settle()

    world.advance(FEB_5)
    people = world.people
    people["dan"].ok("/api/subscription/discount", {"promotion_code": "FOREVER20"})
    people["eve"].ok("/api/subscription/discount", {"promotion_code": "HALF3"})

    world.advance(FEB_10)
    people["alice"].ok("/api/subscription/change", {"plan": "pro", "interval": "month", "quantity": 1})
    assert people["bob"].ok("/api/subscription/change", {"plan": "basic", "interval": "month", "quantity": 1})
    people["fay"].ok("/api/subscription/cancel")
    failing = with_card(client, client.v1.customers.retrieve(world.customers["gus"]), CARD_FAILS_LATER)
    client.v1.subscriptions.update(people["gus"].subscription_id(), params={"default_payment_method": failing.id})

    world.advance(FEB_15)
    world.advance(FEB_20)
    people["alice"].ok("/api/subscription/change", {"plan": "pro", "interval": "month", "quantity": 3})

    world.advance(MAR_1 + 3600)
    world.advance(MAR_16)
    assert people["gus"].billing()["state"] == "canceled"
    world.advance(MAR_20)
    people["fay"].subscribe("pro", "month", 1)
    world.settle()
    with paywire_service.sessions() as session:
        assert session.scalars(select(Order.status)).all() == ["fulfilled"]

    live = report(paywire_service.sessions)
    by_day = figures(live)
    for label, (mrr, moved) in by_day.items():
        start = next(p["start"] for p in live["revenue"]["series"] if p["label"] == label)
        assert mrr == expected_mrr(start), f"MRR on {label}"
        assert moved == MOVEMENTS.get(label, {}), f"movements on {label}"
    revenue = live["revenue"]
    assert (revenue["mrr"], revenue["arr"], revenue["active_subscribers"]) == (6933, 6933 * 12, 7)
    assert revenue["movements"] == {
        "new": 6233,
        "expansion": 2500,
        "contraction": -1600,
        "churn": -1200,
        "reactivation": 1000,
    }
    assert revenue["churn"]["voluntary_mrr"] == 500 and revenue["churn"]["involuntary_mrr"] == 700
    assert live["trials"] == {"ended": 2, "converted": 1, "conversion_rate": 0.5}
    with paywire_service.sessions() as session:
        march = operator_report(session, Window(MAR_1, MAR_1 + 31 * DAY, "month"))["revenue"]
    assert march["mrr_at_start"] == 8633 and march["active_subscribers_at_start"] == 8
    assert march["churn"]["logo_churn_rate"] == 0.25  # fay and gus of 8
    assert march["churn"]["gross_revenue_churn_rate"] == round(2700 / 8633, 4)
    assert march["churn"]["net_revenue_churn_rate"] == round(1700 / 8633, 4)
    assert march["churn"]["involuntary_share"] == round(700 / 1200, 4)
    payments = live["payments"]
    assert payments["succeeded"] < payments["attempts"] and payments["dunning"]["lost"] == 1

    # The same figures from the API (admins only) and the command.
    query = "/api/admin/metrics?from=2026-02-01&to=2026-03-22&interval=day"
    with paywire_service.http() as http:
        as_admin = http.get(query, headers=paywire_service.headers_for("root")).json()
        refused = http.get(query, headers=paywire_service.headers_for("alice"))
        bad = http.get("/api/admin/metrics?interval=week", headers=paywire_service.headers_for("root"))
    assert figures(as_admin) == by_day and as_admin["revenue"]["movements"] == revenue["movements"]
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "admin_only"
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "interval"
    assert metric(paywire_service, "paywire_mrr", currency="usd") == 69.33  # the business gauges of /metrics
    assert metric(paywire_service, "paywire_active_subscribers") == 7
    args = ("metrics", "--from", "2026-02-01", "--to", "2026-03-22")
    printed = run_paywire(paywire_service, sim, *args, "--format", "json")
    assert printed.returncode == 0, printed.stderr
    assert figures(json.loads(printed.stdout)) == by_day
    shown = run_paywire(paywire_service, sim, *args, "--interval", "month")
    assert "MRR 69.33 USD" in shown.stdout and "2026-03" in shown.stdout, shown.stdout + shown.stderr

    # The mirror and the ledger lost, then `paywire sync` from Stripe alone.
    paywire_service.stop_worker.set()
    rebuilt_url = _empty_like(database_url, paywire_service)
    engine = make_engine(rebuilt_url)
    sessions = make_session_factory(engine)
    settings = paywire_service.settings.model_copy(update={"database_url": rebuilt_url})
    sync_report = sync_mirror(SyncContext(sessions, world.people["alice"].gateway, load_catalog(), settings))
    assert {r.name for r in sync_report.resources} >= {"subscriptions", "invoices", "revenue"}
    rebuilt = report(sessions)
    engine.dispose()
    assert figures(rebuilt) == by_day
    assert rebuilt["revenue"]["movements"] == revenue["movements"]
    assert rebuilt["trials"] == live["trials"]


def _empty_like(url: str, service: Service) -> str:
    """Another empty, migrated database on the same backend."""
    wait_for("the worker stopped", lambda: service.worker is None or not service.worker.is_alive())
    if url.startswith("sqlite"):
        fresh = url.replace("paywire.sqlite3", "rebuilt.sqlite3")
    else:
        service.engine.dispose()
        _reset_postgres(url)
        fresh = url
    upgrade_to_head(fresh)
    return fresh
