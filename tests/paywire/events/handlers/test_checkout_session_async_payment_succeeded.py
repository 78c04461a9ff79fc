"""`checkout.session.async_payment_succeeded`: stripesim has no delayed payment methods; the
fixture is derived from the one-time pass's checkout paid by card (see its `_derived_from`).
Handled as `checkout.session.completed`: the pass's order is fulfilled once Stripe says paid."""

from __future__ import annotations

from datetime import UTC, datetime

from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling

CLOCK_TIME = 1793610000  # the customer's test clock: 2026-11-02 09:00 UTC
THREE_MONTHS_LATER = int(datetime(2027, 2, 2, 9, tzinfo=UTC).timestamp())


def test_the_pass_is_fulfilled_once_from_the_customers_time(handling: Handling) -> None:
    fixture = handling.load("checkout.session.async_payment_succeeded")
    session = fixture.held(Kind.CHECKOUT_SESSION)
    handling.link(session["customer"], "user_pass", test_clock_id=fixture.held(Kind.TEST_CLOCK)["id"])
    handling.open_order(session, "user_pass")

    handling.handle(fixture.event)
    [again] = handling.handle(fixture.redelivered())

    order = handling.order(fixture.object_id)
    assert (order.status, order.grants_plan, order.payment_intent_id) == (
        "fulfilled",
        "basic",
        session["payment_intent"],
    )
    assert (order.access_starts_at, order.access_ends_at) == (CLOCK_TIME, THREE_MONTHS_LATER)
    assert (order.amount_total, order.currency) == (400, "usd")
    assert handling.facts() == [("pass_fulfilled", f"pass_fulfilled:{fixture.object_id}", "user_pass")]
    assert again == f"{fixture.object_id} order already fulfilled"


def test_a_paid_session_whose_order_is_missing_is_fulfilled_from_its_metadata(handling: Handling) -> None:
    fixture = handling.load("checkout.session.async_payment_succeeded")

    handling.handle(fixture.event)

    order = handling.order(fixture.object_id)
    assert (order.user_id, order.product, order.status) == ("user_fixture_pass", "pass-3-months", "fulfilled")
    assert order.access_starts_at == CLOCK_TIME, "the customer's clock, read from Stripe"
