"""`checkout.session.async_payment_failed`: stripesim has no delayed payment methods; the fixture
is derived from the one-time pass's checkout, made complete but unpaid (see its `_derived_from`).
Handled as `checkout.session.expired`."""

from __future__ import annotations

from tests.paywire.events.handlers.harness import Handling


def test_the_unpaid_pass_order_fails_and_grants_nothing(handling: Handling) -> None:
    fixture = handling.load("checkout.session.async_payment_failed")
    handling.open_order(fixture.object)

    [note] = handling.handle(fixture.event)

    assert fixture.object["payment_status"] == "unpaid"
    assert handling.order(fixture.object_id).status == "failed"
    assert note == f"{fixture.object_id} order failed"
    assert handling.facts() == []
