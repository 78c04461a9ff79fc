"""`customer.deleted`: captured when a customer was deleted in Stripe, which still answers for it
with `deleted: true`. The user's link and history stay."""

from __future__ import annotations

from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling


def test_the_link_and_what_it_knew_stay(handling: Handling) -> None:
    fixture = handling.load("customer.deleted")
    handling.link(fixture.object_id, "user_gone", test_clock_id="clock_known_before")

    [note] = handling.handle(fixture.event)

    assert fixture.held(Kind.CUSTOMER) == {"id": fixture.object_id, "object": "customer", "deleted": True}
    assert note == f"{fixture.object_id} deleted in Stripe"
    row = handling.customer(fixture.object_id)
    assert (row.user_id, row.email, row.test_clock_id) == ("user_gone", "user_gone@example.com", "clock_known_before")
