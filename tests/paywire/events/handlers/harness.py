"""What the handlers' tests share: the event fixtures, and a database in which to apply them as
the worker does (`paywire.events.batch`), with Stripe faked at the gateway.

A fixture, `tests/paywire/fixtures/events/<event_type>.json`, was captured from a real flow
through stripesim by `tools/capture_event_fixtures.py`: the event as delivered, and the objects
its handler re-reads (`stripe`). Some types stripesim never sends are derived from a sibling
(`_derived_from` says which and how).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from paywire.catalog import Catalog
from paywire.config import Settings
from paywire.db.models import (
    Customer,
    Invoice,
    Order,
    OutboxFact,
    Subscription,
    SubscriptionSchedule,
    TestClock,
)
from paywire.db.repositories import customers, orders
from paywire.events.handlers import handler_for
from paywire.events.handling import Apply, EventGroup, EventHandler, HandlerContext
from paywire.events.reads import BatchReads
from paywire.mirror import LiveReads, MirrorContext, StripeReads, read_version, schedules, test_clocks
from paywire.mirror import invoices as mirrored_invoices
from paywire.mirror import subscriptions as mirrored_subscriptions
from paywire.mirror.customers import user_for
from paywire.stripe import Kind, StripeGateway
from paywire.stripe.ids import id_of
from tests.paywire.events.handlers.fake_stripe import FakeStripe

FIXTURES = Path(__file__).parents[2] / "fixtures" / "events"
Row = TypeVar("Row")


@dataclass(frozen=True)
class EventFixture:
    event_type: str
    event: dict[str, Any]
    stripe: dict[str, Any]
    connect: dict[str, Any] = field(default_factory=dict)  # what `gateway.connect` reads (fake_connect)

    @classmethod
    def load(cls, event_type: str) -> EventFixture:
        data = json.loads((FIXTURES / f"{event_type}.json").read_text())
        return cls(event_type, data["event"], data["stripe"], data.get("connect", {}))

    @property
    def object(self) -> dict[str, Any]:
        """`data.object`: what the event was sent with."""
        found: dict[str, Any] = self.event["data"]["object"]
        return found

    @property
    def object_id(self) -> str:
        return str(self.object["id"])

    def held(self, kind: Kind) -> dict[str, Any]:
        """The one object of `kind` Stripe holds in this fixture (a copy)."""
        [found] = self.stripe[kind.value].values()
        return copy.deepcopy(found)

    def redelivered(self) -> dict[str, Any]:
        """The same event again, as a duplicate delivery brings it."""
        return copy.deepcopy(self.event)


@dataclass
class Handling:
    """Events applied to a real database as the worker applies a claimed group, against
    `stripe` (fed from the fixtures loaded), one transaction per `handle`, committed."""

    session: Session
    catalog: Catalog
    settings: Settings
    stripe: FakeStripe = field(default_factory=FakeStripe)

    def load(self, event_type: str) -> EventFixture:
        """A fixture, and what it says Stripe holds."""
        fixture = EventFixture.load(event_type)
        self.stripe.hold(fixture.stripe)
        self.stripe.connect.hold(fixture.connect)
        return fixture

    def handle(
        self,
        *events: dict[str, Any],
        received_at: datetime | None = None,
        reads: StripeReads | None = None,
        payload_rule: bool = False,
    ) -> list[str]:
        """Apply events about one object as `BatchProcessor._run_handlers` does: the types that
        re-read alike in one call, with the fact rules of their types. The notes, one per call.
        `received_at`: when the last of them was stored (default: now). `payload_rule`: their
        payloads may be applied as the worker's are (`paywire.mirror.payloads`); by default
        every handler re-reads, which is what these tests are about."""
        received_at = received_at or datetime.now(UTC)
        by_apply: dict[Apply, list[tuple[int, EventHandler]]] = {}
        for index, event in enumerate(events):
            handler = handler_for(event["type"])
            assert handler is not None, f"no handler for {event['type']}"
            by_apply.setdefault(handler.apply, []).append((index, handler))
        gateway = cast(StripeGateway, self.stripe)
        notes = []
        for apply, handled in by_apply.items():
            mirror = MirrorContext(
                self.session,
                reads or LiveReads(gateway),
                self.catalog,
                self.settings,
                received_at=received_at,
                source_event_id=events[handled[0][0]]["id"],
            )
            rules = list(dict.fromkeys(h.facts for _, h in handled if h.facts is not None))
            group = EventGroup(
                tuple(events[index] for index, _ in handled),
                received_at,
                payloads_are_states=payload_rule and all(h.state_in_payload for _, h in handled),
            )
            notes.append(apply(HandlerContext(mirror, gateway), group, rules))
        self.session.commit()
        return notes

    def read_ahead(self, *keys: tuple[Kind, str]) -> BatchReads:
        """Reads made now, as the worker makes them before its transaction, to hand to `handle`
        later (when a newer read may have been stored meanwhile)."""
        made = BatchReads(cast(StripeGateway, self.stripe))
        made.prefetch(keys)
        return made

    def link(self, stripe_customer_id: str, user_id: str = "user_1", test_clock_id: str | None = None) -> Customer:
        """The user ↔ customer link paywire makes at checkout."""
        linked = customers.add_customer(
            self.session,
            user_id=user_id,
            stripe_customer_id=stripe_customer_id,
            email=f"{user_id}@example.com",
            test_clock_id=test_clock_id,
        )
        self.session.commit()
        return linked

    def open_order(self, checkout_session: dict[str, Any], user_id: str = "user_1") -> Order:
        """The pending order paywire records when it opens a purchase checkout."""
        product = self.catalog.product(checkout_session["metadata"]["product"])
        assert product is not None
        return orders.open_pending_order(
            self.session,
            user_id=user_id,
            stripe_customer_id=str(id_of(checkout_session["customer"])),
            checkout_session_id=checkout_session["id"],
            product=product.key,
            grants_plan=product.grants_plan,
        )

    def paid_order(self, payment_intent_id: str, stripe_customer_id: str, user_id: str = "user_1") -> Order:
        """A pass bought and fulfilled: its order names the payment intent that paid it."""
        product = self.catalog.product("pass-3-months")
        assert product is not None
        order = orders.open_pending_order(
            self.session,
            user_id=user_id,
            stripe_customer_id=stripe_customer_id,
            checkout_session_id=f"cs_test_paid_by_{payment_intent_id}",
            product=product.key,
            grants_plan=product.grants_plan,
        )
        now = int(datetime.now(UTC).timestamp())
        assert orders.fulfil(
            self.session,
            order,
            payment_intent_id=payment_intent_id,
            amount_total=400,
            currency="usd",
            access_starts_at=now,
            access_ends_at=now + 90 * 86400,
        )
        self.session.commit()
        return order

    def store_newer(self, kind: Kind, fresh: dict[str, Any]) -> None:
        """A read of `fresh` that started now, stored by another writer (a lifecycle operation,
        another worker, `paywire sync`): newer than any read made before this call."""
        version = read_version()
        if kind is Kind.SUBSCRIPTION:
            plan, interval = self.catalog.plan_of_subscription(fresh)
            user_id = user_for(self.session, id_of(fresh.get("customer")), fresh)
            mirrored_subscriptions.write(
                self.session, fresh, user_id=user_id, plan=plan, interval=interval, version=version
            )
        elif kind is Kind.INVOICE:
            mirrored_invoices.write(self.session, fresh, version=version)
        elif kind is Kind.SUBSCRIPTION_SCHEDULE:
            schedules.write(self.session, fresh, version=version)
        else:
            test_clocks.save(self.session, fresh)
        self.session.commit()

    def facts(self) -> list[tuple[str, str, str | None]]:
        """The outbox: (kind, dedup_key, user_id), oldest first."""
        query = select(OutboxFact.kind, OutboxFact.dedup_key, OutboxFact.user_id).order_by(OutboxFact.id)
        return [(kind, key, user) for kind, key, user in self.session.execute(query)]

    def fact_keys(self) -> list[str]:
        return [key for _, key, _ in self.facts()]

    def mirrored(self, model: type[Row], object_id: str) -> Row | None:
        """The row as committed (nothing cached from before)."""
        self.session.expire_all()
        return self.session.get(model, object_id)

    def subscription(self, subscription_id: str) -> Subscription:
        return _there(self.mirrored(Subscription, subscription_id), subscription_id)

    def invoice(self, invoice_id: str) -> Invoice:
        return _there(self.mirrored(Invoice, invoice_id), invoice_id)

    def schedule(self, schedule_id: str) -> SubscriptionSchedule:
        return _there(self.mirrored(SubscriptionSchedule, schedule_id), schedule_id)

    def clock(self, clock_id: str) -> TestClock:
        return _there(self.mirrored(TestClock, clock_id), clock_id)

    def customer(self, stripe_customer_id: str) -> Customer:
        self.session.expire_all()
        return _there(customers.find_by_stripe_id(self.session, stripe_customer_id), stripe_customer_id)

    def order(self, checkout_session_id: str) -> Order:
        self.session.expire_all()
        return _there(orders.find_by_checkout_session(self.session, checkout_session_id), checkout_session_id)


def _there(row: Row | None, object_id: str) -> Row:
    assert row is not None, f"{object_id} is not in the database"
    return row


def plan_of(row: Subscription) -> tuple[str, str | None, str | None, int, str | None]:
    """What a mirrored subscription grants: (status, plan, interval, quantity, user)."""
    return (row.status, row.plan, row.interval, row.quantity, row.user_id)


def items_of(row: Subscription) -> list[tuple[str | None, int | None]]:
    """(price lookup key, quantity) of each mirrored item."""
    return sorted((item.lookup_key, item.quantity) for item in row.items)
