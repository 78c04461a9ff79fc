"""`customer.subscription.updated`: captured when the Pro subscriber went from 3 seats to 5."""

from __future__ import annotations

from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling, items_of, plan_of


def test_added_seats_reach_the_user_named_in_metadata_when_no_link_exists(handling: Handling) -> None:
    fixture = handling.load("customer.subscription.updated")

    handling.handle(fixture.event)

    assert "items" in fixture.event["data"]["previous_attributes"]
    row = handling.subscription(fixture.object_id)
    assert plan_of(row) == ("active", "pro", "month", 5, "user_fixture_checkout")
    assert items_of(row) == [("pro_month", 5)]


def test_a_read_that_started_before_a_stored_one_does_not_overwrite_it(handling: Handling) -> None:
    fixture = handling.load("customer.subscription.updated")
    made_first = handling.read_ahead((Kind.SUBSCRIPTION, fixture.object_id))
    newer = fixture.held(Kind.SUBSCRIPTION)
    newer["items"]["data"][0]["quantity"] = 9
    handling.store_newer(Kind.SUBSCRIPTION, newer)  # a seat change stored its own, later read meanwhile

    [note] = handling.handle(fixture.event, reads=made_first)

    assert note == f"{fixture.object_id} kept: a newer read is stored"
    assert handling.subscription(fixture.object_id).quantity == 9
