"""The subscription an operation acts on: the caller's own, as Stripe holds it right now.

The mirror says which subscription is the user's (never the client); Stripe says what it is
now (the mirror may lag a webhook), so every check before a change is made on fresh state
and a refused request leaves no trace in Stripe: only reads happen before the checks pass.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from paywire.billing.errors import BillingUnavailable, NoSubscription
from paywire.billing.lifecycle import SubscriptionFacts, facts_from_stripe
from paywire.billing.plan_items import licensed_item
from paywire.billing.sync import refresh_subscription
from paywire.catalog import Catalog, Plan
from paywire.config import Settings
from paywire.db.models import Customer
from paywire.db.repositories import customers, operations, subscriptions
from paywire.stripe import Kind, StripeError, StripeGateway, StripeUnavailable
from paywire.stripe.ids import id_of

NO_SUBSCRIPTION = "You have no subscription yet; subscribe at checkout first."


@dataclass(frozen=True)
class CurrentSubscription:
    user_id: str
    customer: Customer
    fresh: dict[str, Any]  # the subscription as Stripe holds it, prices expanded
    schedule: dict[str, Any] | None  # its subscription schedule, if one is attached
    plan: Plan | None
    interval: str | None
    now: int  # the customer's time (their test clock's, in test mode)
    seq: int = 0  # how many operations paywire has recorded on it (the ledger)

    @property
    def id(self) -> str:
        return str(self.fresh["id"])

    @property
    def facts(self) -> SubscriptionFacts:
        return facts_from_stripe(self.fresh, self.plan.key if self.plan else None)

    @property
    def items(self) -> list[dict[str, Any]]:
        return list((self.fresh.get("items") or {}).get("data") or [])

    @property
    def item(self) -> dict[str, Any]:
        """The item of the plan's flat price (per seat or not); a hybrid plan's metered items
        are the others (`paywire.billing.plan_items`)."""
        return licensed_item(self.items)

    @property
    def quantity(self) -> int:
        return int(self.item.get("quantity") or 1)

    @property
    def period(self) -> tuple[int, int]:
        return int(self.item["current_period_start"]), int(self.item["current_period_end"])

    @property
    def trialing(self) -> bool:
        return self.fresh.get("status") == "trialing"

    def fingerprint(self) -> str:
        """What the subscription is now, in a few characters: part of every idempotency key,
        so the same request on the same state is one operation and on a changed state a new one.
        The ledger's `seq` tells apart states that look alike (cancel, reactivate, cancel)."""
        sub = self.fresh
        state = {
            "seq": self.seq,
            "status": sub.get("status"),
            "items": sorted((i.get("id"), (i.get("price") or {}).get("id"), i.get("quantity")) for i in self.items),
            "latest_invoice": id_of(sub.get("latest_invoice")),
            "schedule": id_of(sub.get("schedule")),
            "schedule_phases": [
                (p.get("start_date"), sorted(str(id_of(i.get("price"))) for i in p.get("items") or []))
                for p in (self.schedule or {}).get("phases") or []
            ],
            "cancel": (sub.get("cancel_at_period_end"), sub.get("cancel_at")),
            "pause": (sub.get("pause_collection"), sub.get("status")),
            "pending_update": bool(sub.get("pending_update")),
            "discounts": sub.get("discounts"),
            "period": self.period if self.items else None,
        }
        return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()[:20]


def current_subscription(
    session: Session,
    gateway: StripeGateway,
    catalog: Catalog,
    settings: Settings,
    *,
    user_id: str,
    subscription_id: str | None = None,
) -> CurrentSubscription:
    """The user's subscription (the one named, if it is theirs; else their live one, else
    their latest), read fresh from Stripe. `NoSubscription` when there is none."""
    customer = customers.find_by_user(session, user_id)
    if customer is None:
        raise NoSubscription(NO_SUBSCRIPTION)
    rows = subscriptions.for_user(session, user_id)
    if subscription_id is not None:
        named = [r for r in rows if r.id == subscription_id]
        if not named:
            # Whether it exists for someone else is none of the caller's business.
            raise NoSubscription(f"No subscription {subscription_id!r} of yours.")
        chosen_id = named[0].id
    else:
        live = [r for r in rows if r.status in subscriptions.LIVE_STATUSES]
        chosen = live[0] if live else (rows[0] if rows else None)
        chosen_id = chosen.id if chosen is not None else ""
        if not live:
            # The mirror may lag a checkout that just finished: ask Stripe before saying no.
            found = _live_in_stripe(gateway, customer)
            if found is not None:
                session.commit()  # a fresh transaction for the write (see operations.refresh_after)
                refresh_subscription(session, gateway, catalog, settings, found)
                chosen_id = found
        if not chosen_id:
            raise NoSubscription(NO_SUBSCRIPTION)
    try:
        fresh = gateway.retrieve(Kind.SUBSCRIPTION, chosen_id)
        if id_of(fresh.get("customer")) != customer.stripe_customer_id:
            raise NoSubscription(f"No subscription {chosen_id!r} of yours.")
        schedule_id = id_of(fresh.get("schedule"))
        schedule = gateway.retrieve(Kind.SUBSCRIPTION_SCHEDULE, schedule_id) if schedule_id else None
        now = _customer_time(gateway, customer, fresh)
    except StripeUnavailable as exc:
        raise BillingUnavailable("Billing is temporarily unavailable; try again.") from exc
    plan_key, interval = catalog.plan_of_subscription(fresh)
    return CurrentSubscription(
        user_id=user_id,
        customer=customer,
        fresh=fresh,
        schedule=schedule,
        plan=catalog.plan(plan_key) if plan_key else None,
        interval=interval,
        now=now,
        seq=operations.last_seq(session, str(fresh["id"])),
    )


def _live_in_stripe(gateway: StripeGateway, customer: Customer) -> str | None:
    try:
        found = gateway.list_subscriptions_of_customer(customer.stripe_customer_id)
    except StripeUnavailable as exc:
        raise BillingUnavailable("Billing is temporarily unavailable; try again.") from exc
    live = [s for s in found if s.get("status") in subscriptions.LIVE_STATUSES]
    live.sort(key=lambda s: s.get("created") or 0, reverse=True)
    return str(live[0]["id"]) if live else None


def _customer_time(gateway: StripeGateway, customer: Customer, fresh: dict[str, Any]) -> int:
    """Now for this customer, read fresh: a test clock may have moved since it was mirrored."""
    clock_id = id_of(fresh.get("test_clock")) or customer.test_clock_id
    if not clock_id or gateway.livemode:
        return int(time.time())
    try:
        return int(gateway.retrieve(Kind.TEST_CLOCK, clock_id)["frozen_time"])
    except StripeError:
        return int(time.time())
