"""What sync calls a difference, in the mirror's own terms (pure: no Stripe, no database)."""

from __future__ import annotations

from typing import Any

from paywire.db.models import Invoice, Subscription, SubscriptionItem
from paywire.mirror.rows import item_rows, subscription_row
from paywire.reconcile.drift import DIFFERENT, EXTRA, Change, Drift, invoice_changes, subscription_changes
from tests.paywire.factories import stripe_subscription


def mirrored(stripe_sub: dict[str, Any], **overrides: Any) -> Subscription:
    """A Subscription row as the mirror writes it from `stripe_sub`, then altered."""
    row = Subscription(**subscription_row(stripe_sub), user_id="u1", plan="pro", interval="month")
    row.items = [SubscriptionItem(**i) for i in item_rows(stripe_sub)]
    for key, value in overrides.items():
        setattr(row, key, value)
    return row


def test_a_row_written_from_the_same_object_has_no_difference() -> None:
    sub = stripe_subscription(quantity=2)
    assert subscription_changes(mirrored(sub), sub, plan="pro", interval="month", user_id="u1") == []


def test_status_quantity_period_and_plan_differences_are_named_mirror_first() -> None:
    sub = stripe_subscription(status="past_due", quantity=3, lookup_key="pro_month")
    row = mirrored(
        sub, status="active", quantity=1, current_period_end=sub["items"]["data"][0]["current_period_end"] + 60
    )

    changes = subscription_changes(row, sub, plan="business", interval="month", user_id="u1")

    fields = {c.field: (c.mirror, c.stripe) for c in changes}
    assert fields["status"] == ("active", "past_due")
    assert fields["quantity"] == (1, 3)
    assert fields["plan"] == ("pro", "business")
    assert "current_period_end" in fields
    assert str(Change("cancel_at_period_end", False, True)) == "cancel_at_period_end false → true"


def test_a_changed_price_shows_as_items() -> None:
    sub = stripe_subscription()
    row = mirrored(sub)
    row.items[0].price_id = "price_old"
    [change] = subscription_changes(row, sub, plan="pro", interval="month", user_id="u1")
    assert change.field == "items" and "price_old×1" in str(change)


def test_invoice_differences_and_report_lines() -> None:
    stripe_invoice = {"id": "in_1", "customer": "cus_1", "status": "paid", "amount_due": 900, "amount_paid": 900}
    row = Invoice(
        id="in_1",
        stripe_customer_id="cus_1",
        status="open",
        amount_due=900,
        amount_paid=0,
        amount_remaining=0,
        attempt_count=0,
        stripe_created=0,
        stripe_object={},
    )
    changes = invoice_changes(row, stripe_invoice)
    assert [str(c) for c in changes if c.field in ("status", "amount_paid")] == [
        "status open → paid",
        "amount_paid 0 → 900",
    ]
    line = str(Drift("invoice", "in_1", DIFFERENT, changes[:1], action="updated"))
    assert line == "invoice in_1: status open → paid [updated]"
    assert (
        str(Drift("subscription", "sub_x", EXTRA, action="would remove"))
        == "subscription sub_x: not in Stripe [would remove]"
    )
