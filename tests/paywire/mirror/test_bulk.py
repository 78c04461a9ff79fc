"""A page written in bulk (`paywire.mirror.bulk`) is what the one-by-one writers write: the same
rows, items, facts, trial marks, revenue rows and dunning outcomes, from Stripe's own examples
varied into the states a sync meets; the version rule holds for every row of a page; and a page
costs a few statements, not a dozen per object."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, delete, event, select
from sqlalchemy.orm import Session

from paywire.catalog import Catalog
from paywire.config import Settings, load_settings
from paywire.db.models import (
    Customer,
    DunningCase,
    EntitlementVersion,
    Invoice,
    OutboxFact,
    RevenueChange,
    Subscription,
    SubscriptionItem,
    TestClock,
)
from paywire.db.repositories import customers
from paywire.mirror import MirrorContext, bulk, dunning
from paywire.mirror import invoices as mirrored_invoices
from paywire.mirror import subscriptions as mirrored_subscriptions
from paywire.mirror.bulk import Read
from paywire.mirror.reads import Snapshot
from paywire.stripe import Kind
from tests.paywire.fixtures import stripe_example
from tests.support.stripesim import TEST_KEY

CLOCK = {"id": "clock_bulk", "object": "test_helpers.test_clock", "frozen_time": 1_800_000_000, "status": "ready"}
OLD, NEW = 1_000_000, 2_000_000  # read versions (µs)
TIMES = (1_799_999_000, 1_799_999_100)
# Columns paywire fills from its counters: not what a write decides (nor are its own clock's
# times, the datetimes; Stripe's are ints).
OWN = {"id", "version"}
TABLES = (
    Subscription,
    SubscriptionItem,
    Invoice,
    OutboxFact,
    RevenueChange,
    Customer,
    DunningCase,
    EntitlementVersion,
    TestClock,
)


class Reads:
    """Stripe as far as these writes ask it: every customer on one test clock."""

    def read(self, kind: Kind, object_id: str) -> Snapshot:
        if kind is Kind.TEST_CLOCK:
            return Snapshot(obj=CLOCK, version=NEW, times=TIMES)
        return Snapshot(
            obj={"id": object_id, "object": "customer", "test_clock": CLOCK["id"]}, version=NEW, times=TIMES
        )


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_settings(STRIPE_SECRET_KEY=TEST_KEY, DATABASE_URL=database_url, _env_file=None)


def context(session: Session, catalog: Catalog, settings: Settings) -> MirrorContext:
    return MirrorContext(session, Reads(), catalog, settings)


def price(lookup_key: str | None, amount: int = 2000) -> dict[str, Any]:
    found = copy.deepcopy(stripe_example("subscription")["items"]["data"][0]["price"])
    found.update(lookup_key=lookup_key, unit_amount=amount, unit_amount_decimal=str(amount), id=f"price_{lookup_key}")
    found["transform_quantity"] = None  # the example divides every quantity by 1,592,560,163
    return found


def subscription(sub_id: str, customer: str, status: str, **changes: Any) -> dict[str, Any]:
    """Stripe's example subscription, as `status` with `changes`, its one item renamed after it."""
    found = copy.deepcopy(stripe_example("subscription"))
    item = found["items"]["data"][0]
    item.update(id=f"si_{sub_id}", subscription=sub_id, current_period_start=1_799_000_000)
    item.update(current_period_end=1_801_600_000, price=price("pro_month"))
    found.update(
        id=sub_id,
        customer=customer,
        status=status,
        cancel_at_period_end=False,
        cancel_at=None,
        canceled_at=None,
        ended_at=None,
        trial_start=None,
        trial_end=None,
        pause_collection=None,
        start_date=1_799_000_000,
        created=1_799_000_000,
    )
    found.update(changes)
    return found


def page() -> list[dict[str, Any]]:
    """The states a sync meets: linked and unlinked customers, a trial, ended and unpaid ones,
    two items on their own periods, and Stripe's example as it is."""
    two_items = subscription("sub_two", "cus_linked2", "active", metadata={"user_id": "u_two"})
    second = copy.deepcopy(two_items["items"]["data"][0])
    second.update(id="si_sub_two_b", quantity=3, current_period_end=1_801_000_000, price=price("team_month", 5000))
    two_items["items"]["data"].append(second)
    return [
        subscription("sub_active", "cus_linked", "active", metadata={"user_id": "u_metadata_loses"}),
        subscription(
            "sub_trial", "cus_trial", "trialing", trial_start=1_799_000_000, trial_end=1_800_200_000, metadata={}
        ),
        subscription("sub_named", "cus_unlinked", "active", metadata={"user_id": "u_named"}),
        subscription(
            "sub_canceled",
            "cus_gone",
            "canceled",
            canceled_at=1_799_500_000,
            ended_at=1_799_500_000,
            cancellation_details={"reason": "payment_failed", "comment": None, "feedback": None},
        ),
        subscription("sub_unpaid", "cus_linked3", "unpaid", latest_invoice="in_unpaid"),
        two_items,
        copy.deepcopy(stripe_example("subscription")),
    ]


def invoices() -> list[dict[str, Any]]:
    """Invoices that end dunning cases (paid: recovered, void: lost), one that stays open, a draft."""
    found = []
    for inv_id, status in (("in_paid", "paid"), ("in_void", "void"), ("in_open", "open"), ("in_draft", "draft")):
        inv = copy.deepcopy(stripe_example("invoice"))
        inv.update(id=inv_id, status=status, customer="cus_linked", billing_reason="subscription_cycle")
        inv["parent"] = {"type": "subscription_details", "subscription_details": {"subscription": "sub_active"}}
        inv["status_transitions"] = {**(inv.get("status_transitions") or {}), "paid_at": 1_800_000_000}
        inv["attempt_count"], inv["next_payment_attempt"] = 2, 1_800_100_000
        found.append(inv)
    return found


def prepare(session: Session, catalog: Catalog, settings: Settings) -> None:
    """What the mirror holds before the page: links (one user had no trial yet), an older read
    of one subscription (another item, quantity 1), dunning cases open on two invoices."""
    for n, customer_id in enumerate(("cus_linked", "cus_trial", "cus_linked2", "cus_linked3")):
        user_id = ("u_linked", "u_trial", "u_linked2", "u_linked3")[n]
        customers.add_customer(
            session, user_id=user_id, stripe_customer_id=customer_id, email=None, test_clock_id=CLOCK["id"]
        )
    ctx = context(session, catalog, settings)
    older = subscription("sub_active", "cus_linked", "active")
    older["items"]["data"][0].update(id="si_old", quantity=1, price=price("basic_month", 900))
    mirrored_subscriptions.save(ctx, older, OLD, TIMES)
    for inv in invoices()[:2]:
        dunning.record_failure(ctx, {**inv, "status": "open"}, "u_linked")
    session.commit()


def stored(session: Session) -> dict[str, list[str]]:
    """Every table a write touches, without the columns paywire fills from its clock or counters."""
    found = {}
    for model in TABLES:
        rows = []
        for row in session.scalars(select(model)):
            columns = [(k, v) for k, v in vars(row).items() if not k.startswith("_") and k not in OWN]
            rows.append(repr(sorted((k, v) for k, v in columns if not isinstance(v, datetime))))
        found[model.__tablename__] = sorted(rows)
    return found


def clear(session: Session) -> None:
    for model in TABLES:
        session.execute(delete(model))
    session.commit()


def reads_of(states: list[dict[str, Any]], version: int = NEW) -> list[Read]:
    return [Read(state, version, TIMES) for state in states]


def test_a_page_written_in_bulk_is_what_one_by_one_writes(
    session: Session, catalog: Catalog, settings: Settings
) -> None:
    prepare(session, catalog, settings)
    ctx = context(session, catalog, settings)
    for read in reads_of(page()):
        assert mirrored_subscriptions.save(ctx, read.state, read.version, read.times).written
    for read in reads_of(invoices()):
        assert mirrored_invoices.save(ctx, read.state, read.version, read.times).written
    session.commit()
    session.expire_all()
    one_by_one = stored(session)
    clear(session)

    prepare(session, catalog, settings)
    ctx = context(session, catalog, settings)
    assert bulk.write_subscriptions(ctx, reads_of(page())) == {s["id"] for s in page()}
    assert bulk.write_invoices(ctx, reads_of(invoices())) == {i["id"] for i in invoices()}
    session.commit()
    session.expire_all()
    in_bulk = stored(session)

    assert in_bulk == one_by_one
    # What the comparison covers is there at all: facts, trial marks, revenue rows, dunning ends.
    facts = set(session.scalars(select(OutboxFact.dedup_key)))
    assert {"access_granted:sub_active", "access_paused:sub_unpaid:in_unpaid", "payment_recovered:in_paid"} <= facts
    assert "subscription_canceled:sub_canceled" in facts
    assert session.scalar(select(Customer.trial_used).where(Customer.user_id == "u_trial")) is True
    assert session.scalar(select(Subscription.user_id).where(Subscription.id == "sub_active")) == "u_linked"
    assert session.scalar(select(Subscription.user_id).where(Subscription.id == "sub_named")) == "u_named"
    assert set(
        session.scalars(select(SubscriptionItem.id).where(SubscriptionItem.subscription_id == "sub_active"))
    ) == {"si_sub_active"}, "the item the older read had is gone"
    assert (
        session.scalar(
            select(RevenueChange.source)
            .where(RevenueChange.subscription_id == "sub_active")
            .order_by(RevenueChange.seq.desc())
            .limit(1)
        )
        == "mirror"
    ), "a change of value on a subscription the ledger knows"
    outcomes = {row.invoice_id: row.outcome for row in session.scalars(select(DunningCase))}
    assert outcomes == {"in_paid": "recovered", "in_void": "lost"}


def test_the_version_rule_holds_for_every_row_of_a_page(session: Session, catalog: Catalog, settings: Settings) -> None:
    prepare(session, catalog, settings)
    newer = subscription("sub_active", "cus_linked", "past_due")
    ctx = context(session, catalog, settings)
    mirrored_subscriptions.save(ctx, newer, NEW + 1, TIMES)
    mirrored_invoices.save(ctx, {**invoices()[2], "status": "paid"}, NEW + 1, TIMES)
    session.commit()
    facts_before = set(session.scalars(select(OutboxFact.dedup_key)))

    ctx = context(session, catalog, settings)
    written = bulk.write_subscriptions(ctx, reads_of(page()[:3]))
    written_invoices = bulk.write_invoices(ctx, reads_of(invoices()[2:]))
    session.commit()
    session.expire_all()

    assert written == {"sub_trial", "sub_named"}, "the newer stored read is kept"
    row = session.get(Subscription, "sub_active")
    assert row is not None and row.status == "past_due" and row.stripe_version == NEW + 1
    assert [i.id for i in row.items] == ["si_sub_active"]
    assert written_invoices == {"in_draft"}
    assert session.scalar(select(Invoice.status).where(Invoice.id == "in_open")) == "paid"
    new_facts = set(session.scalars(select(OutboxFact.dedup_key))) - facts_before
    assert "access_granted:sub_active" not in new_facts and "access_granted:sub_trial" in new_facts

    # An older read than the stored one is kept too, and a page naming an object twice keeps its newest read.
    ctx = context(session, catalog, settings)
    twice = [Read(subscription("sub_trial", "cus_trial", "canceled"), NEW + 5, TIMES), *reads_of(page()[1:2], NEW + 3)]
    assert bulk.write_subscriptions(ctx, twice) == {"sub_trial"}
    assert bulk.write_subscriptions(ctx, reads_of(page()[1:2], OLD)) == set()
    session.commit()
    assert session.scalar(select(Subscription.status).where(Subscription.id == "sub_trial")) == "canceled"


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements sent while inside (an executemany counts once)."""
    sent: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_a_page_costs_a_few_statements_not_some_per_object(
    session: Session, catalog: Catalog, settings: Settings, db_engine: Engine
) -> None:
    prepare(session, catalog, settings)
    many: list[dict[str, Any]] = []
    for n in range(60):
        state = subscription(f"sub_{n:03}", f"cus_{n:03}", "trialing", trial_start=1_799_000_000)
        state["trial_end"], state["metadata"] = 1_800_200_000, {"user_id": f"u_{n:03}"}
        many.append(state)
    ctx = context(session, catalog, settings)

    with statements(db_engine) as sent:
        assert len(bulk.write_subscriptions(ctx, reads_of(many))) == 60
        session.flush()

    assert len(sent) <= 12, "\n".join(sent)
    assert session.scalar(select(SubscriptionItem.id).where(SubscriptionItem.id == "si_sub_059")) == "si_sub_059"
