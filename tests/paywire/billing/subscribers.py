"""A subscriber driving paywire's lifecycle API against stripesim, on their own test clock.

The clock starts at 2026-02-01 00:00 UTC (February 2026 has 28 days), so half the first
period is exactly 14 days and proration amounts are exact and deterministic.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from sqlalchemy import select

from paywire.billing.customers import get_or_create_customer
from paywire.db.models import Subscription, SubscriptionSchedule, WebhookEvent
from paywire.db.repositories import subscriptions, test_clocks
from paywire.stripe import Kind, StripeGateway
from tests.paywire.conftest import Service
from tests.support.stripesim import Sim

T = TypeVar("T")

DAY = 86_400
FEB_1 = 1_769_904_000  # 2026-02-01T00:00:00Z
HALF_FEB = FEB_1 + 14 * DAY
MAR_1 = FEB_1 + 28 * DAY
CARD_OK = "4242424242424242"
CARD_DECLINE = "4000000000000002"
CARD_3DS = "4000002500003155"
DEADLINE = 60.0


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = DEADLINE) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def event_count(sim: Sim) -> int:
    """How many events Stripe has emitted: every write emits at least one."""
    page = sim.client().v1.events.list(params={"limit": 100})
    return sum(1 for _ in page.auto_paging_iter())


@dataclass
class Subscriber:
    service: Service
    sim: Sim
    user_id: str
    clock_id: str
    gateway: StripeGateway = field(init=False)

    def __post_init__(self) -> None:
        self.gateway = StripeGateway.from_settings(self.service.settings)

    @property
    def headers(self) -> dict[str, str]:
        return self.service.headers_for(self.user_id, f"{self.user_id}@example.com")

    def post(
        self, path: str, body: dict[str, Any] | None = None, *, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        with self.service.http() as http:
            return http.post(path, json=body or {}, headers=headers or self.headers)

    def ok(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.post(path, body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def billing(self) -> dict[str, Any]:
        with self.service.http() as http:
            response = http.get("/api/billing", headers=self.headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def subscribe(self, plan: str, interval: str = "month", quantity: int = 1, card: str = CARD_OK) -> str:
        """Checkout through paywire, paid on stripesim; waits until the mirror has it active."""
        body: dict[str, Any] = {"plan": plan, "interval": interval, "quantity": quantity}
        session_id = self.ok("/api/checkout", body)["id"]
        paid = self.sim.complete_checkout(session_id, card)
        assert paid.status_code == 200, paid.text
        wait_for("the subscription mirrored", lambda: self.billing()["access"])
        return self.subscription_id()

    def subscription_id(self) -> str:
        with self.service.sessions() as session:
            rows = subscriptions.for_user(session, self.user_id)
            live = [r for r in rows if r.status in subscriptions.LIVE_STATUSES]
            return (live or list(rows))[0].id

    def stripe_subscription(self) -> dict[str, Any]:
        return self.gateway.retrieve(Kind.SUBSCRIPTION, self.subscription_id())

    def mirror(self) -> Subscription:
        with self.service.sessions() as session:
            row = session.get(Subscription, self.subscription_id())
            assert row is not None
            _ = row.items
            return row

    def schedule_row(self, schedule_id: str) -> SubscriptionSchedule | None:
        with self.service.sessions() as session:
            return session.get(SubscriptionSchedule, schedule_id)

    def advance(self, to: int) -> None:
        """Move the clock, then wait until Stripe delivered everything and paywire processed it."""
        self.sim.advance(self.sim.client(), self.clock_id, to)

        def mirrored() -> bool:
            with self.service.sessions() as session:
                clock = test_clocks.find(session, self.clock_id)
                return clock is not None and clock.frozen_time == to and clock.status == "ready"

        wait_for(f"the clock mirror at {to}", mirrored)
        self.settle()

    def settle(self) -> None:
        wait_for("every webhook delivered and processed", lambda: settled(self.service, self.sim))

    def latest_invoice(self) -> dict[str, Any]:
        invoice_id = self.stripe_subscription()["latest_invoice"]
        return self.gateway.retrieve(Kind.INVOICE, invoice_id)


def settled(service: Service, sim: Sim) -> bool:
    if sim.get("webhooks/attempts")["pending"]:
        return False
    with service.sessions() as session:
        states = session.scalars(select(WebhookEvent.state)).all()
    return not any(s in ("pending", "processing", "failed") for s in states)


def on_a_clock(service: Service, sim: Sim, user_id: str, start: int = FEB_1) -> Subscriber:
    """A new user whose Stripe customer lives on a fresh test clock at `start`."""
    clock = sim.client().v1.test_helpers.test_clocks.create(params={"frozen_time": start})
    subscriber = Subscriber(service, sim, user_id, str(clock.id))
    with service.sessions() as session:
        get_or_create_customer(
            session, subscriber.gateway, user_id=user_id, email=f"{user_id}@example.com", test_clock=clock.id
        )
    return subscriber


def subscribed(
    service: Service,
    sim: Sim,
    user_id: str,
    plan: str = "basic",
    interval: str = "month",
    quantity: int = 1,
    *,
    advance_to: int | None = HALF_FEB,
) -> Subscriber:
    """A user subscribed on 1 Feb 2026 (clock time), then (by default) half a month later."""
    subscriber = on_a_clock(service, sim, user_id)
    subscriber.subscribe(plan, interval, quantity)
    subscriber.settle()
    if advance_to is not None:
        subscriber.advance(advance_to)
    return subscriber


def mirror_view(row: Subscription) -> dict[str, Any]:
    """The mirror's facts about a subscription, in Stripe's terms."""
    return {
        "id": row.id,
        "status": row.status,
        "items": sorted(
            (i.id, i.price_id, i.quantity, i.current_period_start, i.current_period_end) for i in row.items
        ),
        "cancel_at_period_end": row.cancel_at_period_end,
        "cancel_at": row.cancel_at,
        "trial_end": row.trial_end,
        "pause_collection": row.pause_collection,
        "latest_invoice": row.latest_invoice_id,
        "schedule": row.schedule_id,
        "pending_update": bool((row.stripe_object or {}).get("pending_update")),
    }


def stripe_view(sub: dict[str, Any]) -> dict[str, Any]:
    items = (sub.get("items") or {}).get("data") or []
    return {
        "id": sub["id"],
        "status": sub["status"],
        "items": sorted(
            (i["id"], i["price"]["id"], i.get("quantity"), i["current_period_start"], i["current_period_end"])
            for i in items
        ),
        "cancel_at_period_end": bool(sub.get("cancel_at_period_end")),
        "cancel_at": sub.get("cancel_at"),
        "trial_end": sub.get("trial_end"),
        "pause_collection": sub.get("pause_collection"),
        "latest_invoice": sub.get("latest_invoice"),
        "schedule": sub.get("schedule"),
        "pending_update": bool(sub.get("pending_update")),
    }


def assert_mirror_matches_stripe(subscriber: Subscriber) -> None:
    """The mirrored row and items equal a fresh retrieve from Stripe."""
    fresh = subscriber.stripe_subscription()
    assert mirror_view(subscriber.mirror()) == stripe_view(fresh)
