"""`customer.updated`: captured when the checkout's customer changed their email in Stripe."""

from __future__ import annotations

from tests.paywire.events.handlers.harness import Handling


def test_the_linked_users_email_follows_stripe(handling: Handling) -> None:
    fixture = handling.load("customer.updated")
    handling.link(fixture.object_id, "user_renamed")

    handling.handle(fixture.event)

    assert fixture.event["data"]["previous_attributes"] == {"email": "user_fixture_checkout@example.com"}
    row = handling.customer(fixture.object_id)
    assert (row.user_id, row.email) == ("user_renamed", "checkout.renamed@example.com")
    assert row.test_clock_id == fixture.object["test_clock"]
