"""`customer.created`: captured when a customer was made as paywire makes one (metadata.user_id), on a
test clock. Only a customer linked to a user is followed; Stripe's data never makes a link."""

from __future__ import annotations

from paywire.db.repositories import customers
from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling


def test_a_linked_customer_gets_its_email_and_clock_from_stripe(handling: Handling) -> None:
    fixture = handling.load("customer.created")
    created = fixture.held(Kind.CUSTOMER)
    handling.link(fixture.object_id, "user_new")

    [note] = handling.handle(fixture.event)

    row = handling.customer(fixture.object_id)
    assert (row.user_id, row.email, row.test_clock_id) == ("user_new", created["email"], created["test_clock"])
    assert note == f"{fixture.object_id} details updated"


def test_a_customer_no_user_is_linked_to_is_left_alone_unread(handling: Handling) -> None:
    fixture = handling.load("customer.created")

    [note] = handling.handle(fixture.event)

    assert note == f"{fixture.object_id} not linked to a user"
    assert fixture.object["metadata"]["user_id"] == "user_fixture_checkout"
    assert customers.find_by_user(handling.session, "user_fixture_checkout") is None, "metadata claims no user"
    assert handling.stripe.reads == 0
