"""The mirror's writes of Stripe objects: the rows and items they keep, from Stripe's own examples."""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from paywire.db.models import SubscriptionItem
from paywire.db.repositories import invoices, subscriptions
from paywire.mirror import invoices as mirrored_invoices
from paywire.mirror import read_version
from paywire.mirror import subscriptions as mirrored_subscriptions
from tests.paywire.fixtures import stripe_example


def write_subscription(session: Session, fresh: dict[str, Any]) -> None:
    assert mirrored_subscriptions.write(
        session, fresh, user_id="u1", plan="pro", interval="month", version=read_version()
    )


def test_subscription_mirror_from_stripes_example(session: Session) -> None:
    example = stripe_example("subscription")
    write_subscription(session, example)
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
    write_subscription(session, example)
    session.commit()
    changed = copy.deepcopy(example)
    changed["status"] = "canceled"
    new_item = copy.deepcopy(changed["items"]["data"][0])
    new_item["id"] = "si_new"
    new_item["quantity"] = 3
    changed["items"]["data"] = [new_item]
    write_subscription(session, changed)
    session.commit()
    session.expire_all()
    row = subscriptions.find(session, example["id"])
    assert row is not None and row.status == "canceled" and row.quantity == 3
    assert session.scalars(select(SubscriptionItem.id)).all() == ["si_new"]
    assert subscriptions.live_for_user(session, "u1") == []


def test_had_trial_and_live_subscriptions(session: Session) -> None:
    example = stripe_example("subscription")
    write_subscription(session, example)
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
    mirrored_invoices.write(session, example, version=read_version())
    session.commit()
    assert [i.id for i in invoices.for_subscription(session, "sub_123")] == [example["id"]]
