from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paywire.db.models import SubscriptionItem, WebhookEvent
from paywire.db.repositories import customers, invoices, orders, subscriptions, test_clocks
from tests.paywire.fixtures import stripe_example


def test_one_customer_row_per_user_and_per_stripe_customer(session: Session) -> None:
    customers.add_customer(session, user_id="u1", stripe_customer_id="cus_1", email="a@x.io")
    session.commit()
    with pytest.raises(IntegrityError):
        customers.add_customer(session, user_id="u1", stripe_customer_id="cus_2", email=None)
    session.rollback()
    with pytest.raises(IntegrityError):
        customers.add_customer(session, user_id="u2", stripe_customer_id="cus_1", email=None)
    session.rollback()
    assert customers.find_by_stripe_id(session, "cus_1").user_id == "u1"  # type: ignore[union-attr]


def test_datetimes_come_back_aware_utc(session: Session) -> None:
    row = customers.add_customer(session, user_id="u1", stripe_customer_id="cus_1", email=None)
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    customers.mark_trial_used(session, "u1", at)
    session.commit()
    session.expire_all()
    row = customers.find_by_user(session, "u1")
    assert row is not None and row.trial_used
    assert row.trial_used_at == at
    assert row.trial_used_at.tzinfo is not None
    assert row.created_at.tzinfo is not None


def test_trial_used_keeps_its_first_time(session: Session) -> None:
    customers.add_customer(session, user_id="u1", stripe_customer_id="cus_1", email=None)
    first = datetime(2030, 1, 1, tzinfo=UTC)
    customers.mark_trial_used(session, "u1", first)
    customers.mark_trial_used(session, "u1", first + timedelta(days=9))
    session.commit()
    session.expire_all()
    assert customers.find_by_user(session, "u1").trial_used_at == first  # type: ignore[union-attr]


def test_naive_datetimes_are_refused(session: Session) -> None:
    customers.add_customer(session, user_id="u1", stripe_customer_id="cus_1", email=None)
    with pytest.raises(Exception, match="timezone-aware"):
        customers.mark_trial_used(session, "u1", datetime(2030, 1, 1))


def test_subscription_mirror_from_stripes_example(session: Session) -> None:
    example = stripe_example("subscription")
    row = subscriptions.save_from_stripe(session, example, user_id="u1", plan="pro", interval="month")
    session.commit()
    session.expire_all()
    row = subscriptions.find(session, example["id"])  # type: ignore[assignment]
    item = example["items"]["data"][0]
    assert row.status == "active"
    assert row.stripe_customer_id == example["customer"]
    assert row.current_period_end == item["current_period_end"]  # from the item
    assert row.current_period_start == item["current_period_start"]
    assert row.cancel_at_period_end is True
    assert row.pause_collection == example["pause_collection"]
    assert row.stripe_object == example
    assert [i.id for i in row.items] == [item["id"]]
    assert row.items[0].price_id == item["price"]["id"]
    assert row.items[0].product_id == item["price"]["product"]


def test_subscription_mirror_replaces_items_and_fields(session: Session) -> None:
    example = stripe_example("subscription")
    subscriptions.save_from_stripe(session, example, user_id="u1", plan="pro", interval="month")
    session.commit()
    changed = copy.deepcopy(example)
    changed["status"] = "canceled"
    new_item = copy.deepcopy(changed["items"]["data"][0])
    new_item["id"] = "si_new"
    new_item["quantity"] = 3
    changed["items"]["data"] = [new_item]
    subscriptions.save_from_stripe(session, changed, user_id="u1", plan="pro", interval="month")
    session.commit()
    session.expire_all()
    row = subscriptions.find(session, example["id"])
    assert row is not None and row.status == "canceled" and row.quantity == 3
    assert session.scalars(select(SubscriptionItem.id)).all() == ["si_new"]
    assert subscriptions.live_for_user(session, "u1") == []


def test_had_trial_and_live_subscriptions(session: Session) -> None:
    example = stripe_example("subscription")
    subscriptions.save_from_stripe(session, example, user_id="u1", plan="pro", interval="month")
    session.commit()
    assert subscriptions.had_trial(session, "u1")
    assert not subscriptions.had_trial(session, "u2")
    assert [s.id for s in subscriptions.live_for_user(session, "u1")] == [example["id"]]


def test_invoice_mirror_reads_the_subscription_from_parent(session: Session) -> None:
    example = stripe_example("invoice")
    example["parent"] = {
        "type": "subscription_details",
        "subscription_details": {"subscription": "sub_123", "metadata": {}},
    }
    invoices.save_from_stripe(session, example)
    session.commit()
    assert [i.id for i in invoices.for_subscription(session, "sub_123")] == [example["id"]]


def test_pending_order_is_recorded_once_per_checkout_session(session: Session) -> None:
    kwargs = dict(
        user_id="u1",
        stripe_customer_id="cus_1",
        checkout_session_id="cs_1",
        product="pass-3-months",
        grants_plan="basic",
    )
    first = orders.open_pending_order(session, **kwargs)  # type: ignore[arg-type]
    again = orders.open_pending_order(session, **kwargs)  # type: ignore[arg-type]
    assert first.id == again.id
    assert first.status == "pending"
    assert orders.paid_for_user(session, "u1") == []


def test_order_status_is_constrained(session: Session) -> None:
    order = orders.open_pending_order(
        session,
        user_id="u1",
        stripe_customer_id="cus_1",
        checkout_session_id="cs_1",
        product="pass-3-months",
        grants_plan="basic",
    )
    order.status = "shipped"
    with pytest.raises(IntegrityError):
        session.commit()


def test_test_clock_only_moves_forward(session: Session) -> None:
    test_clocks.save_clock(session, "clock_1", frozen_time=2000, status="ready")
    test_clocks.save_clock(session, "clock_1", frozen_time=1000, status="advancing")
    session.commit()
    clock = test_clocks.find(session, "clock_1")
    assert clock is not None and clock.frozen_time == 2000 and clock.status == "ready"


def test_inbox_state_is_constrained_and_id_unique(session: Session) -> None:
    session.add(WebhookEvent(id="evt_1", type="x", livemode=False, payload="{}"))
    session.commit()
    session.add(WebhookEvent(id="evt_1", type="x", livemode=False, payload="{}"))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()
    session.add(WebhookEvent(id="evt_2", type="x", livemode=False, payload="{}", state="weird"))
    with pytest.raises(IntegrityError):
        session.commit()
