"""`checkout.session.completed`: captured from the Pro checkout for 3 seats, opened as paywire
opens it and paid by card. Provisioning happens here, never on the redirect."""

from __future__ import annotations

import copy
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from paywire.billing.passes import add_calendar_months
from paywire.catalog import Catalog
from paywire.config import Settings
from paywire.db.models import Subscription
from paywire.db.repositories import orders
from paywire.events.handlers.checkout_session_completed import HANDLER
from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import EventFixture, Handling, plan_of

CLOCK_TIME = 1793610000  # the pass buyer's test clock in its fixture: 2026-11-02 09:00 UTC
THREE_MONTHS_LATER = int(datetime(2027, 2, 2, 9, tzinfo=UTC).timestamp())
SIX_MONTHS_LATER = int(datetime(2027, 5, 2, 9, tzinfo=UTC).timestamp())


def test_the_paid_checkouts_subscription_is_mirrored_and_grants_access(handling: Handling) -> None:
    fixture = handling.load("checkout.session.completed")
    subscription_id = fixture.object["subscription"]
    handling.link(fixture.object["customer"], "user_buyer")

    [note] = handling.handle(fixture.event)

    assert plan_of(handling.subscription(subscription_id)) == ("active", "pro", "month", 3, "user_buyer")
    assert handling.facts() == [("access_granted", f"access_granted:{subscription_id}", "user_buyer")]
    assert note == f"{subscription_id} active plan=pro/month"
    # The worker reads both ahead, in parallel: the event names the subscription.
    assert HANDLER.foreseen(fixture.event) == [
        (Kind.CHECKOUT_SESSION, fixture.object_id),
        (Kind.SUBSCRIPTION, subscription_id),
    ]
    assert set(handling.stripe.calls) == {("checkout.session", fixture.object_id), ("subscription", subscription_id)}


def test_a_subscription_mirrored_past_incomplete_is_not_read_again(handling: Handling) -> None:
    """Its own events (handled first) mirrored it active: the checkout costs no read, and
    provisions from what the mirror holds. Stored `incomplete`, both are read."""
    fixture = handling.load("checkout.session.completed")
    subscription_id = fixture.object["subscription"]
    handling.link(fixture.object["customer"], "user_buyer")
    held = fixture.held(Kind.SUBSCRIPTION)
    handling.store_newer(Kind.SUBSCRIPTION, {**held, "status": "incomplete"})

    handling.handle(fixture.event)
    assert handling.stripe.calls[("subscription", subscription_id)] == 1
    assert handling.subscription(subscription_id).status == "active"

    [note] = handling.handle(fixture.redelivered())
    assert handling.stripe.calls[("subscription", subscription_id)] == 1, "active in the mirror: no read"
    assert handling.stripe.calls[("checkout.session", fixture.object_id)] == 1, "nor of the session"
    assert note == f"{subscription_id} active: mirrored from its own events, not re-read"

    assert HANDLER.served is not None
    for status, served in (("active", True), ("trialing", True), ("incomplete", False), (None, False)):
        state = None if status is None else {**held, "status": status}
        assert HANDLER.served(fixture.event, lambda key, state=state: state) is served, status
    unfinished = copy.deepcopy(fixture.event)
    unfinished["data"]["object"]["status"] = "open"
    assert not HANDLER.served(unfinished, lambda key: held), "only a completed session's subscription is final"


def test_a_session_stripe_answers_404_for_provisions_nothing(handling: Handling) -> None:
    fixture = handling.load("checkout.session.completed")
    handling.stripe.forget(Kind.CHECKOUT_SESSION, fixture.object_id)

    [note] = handling.handle(fixture.event)

    assert note == f"{fixture.object_id} not found in Stripe: nothing to provision"
    assert handling.mirrored(Subscription, fixture.object["subscription"]) is None
    assert handling.facts() == []


def paid_pass(handling: Handling, fixture: EventFixture, n: int) -> dict[str, Any]:
    """The event of the `n`-th paid pass checkout of the fixture's buyer, with what Stripe holds
    for it: the session (its invoice and payment intent), the intent, and its charge's receipt."""
    session = {
        **fixture.held(Kind.CHECKOUT_SESSION),
        "id": f"cs_test_pass_{n}",
        "payment_intent": f"pi_pass_{n}",
        "invoice": f"in_pass_{n}",
    }
    handling.stripe.hold(
        {
            Kind.CHECKOUT_SESSION.value: {session["id"]: session},
            Kind.PAYMENT_INTENT.value: {f"pi_pass_{n}": {"id": f"pi_pass_{n}", "latest_charge": f"ch_pass_{n}"}},
            Kind.CHARGE.value: {
                f"ch_pass_{n}": {"id": f"ch_pass_{n}", "paid": True, "receipt_url": f"https://receipts.test/{n}"}
            },
        }
    )
    handling.open_order(session, "user_pass")
    event = fixture.redelivered()
    event.update(id=f"evt_pass_{n}", type="checkout.session.completed")
    event["data"]["object"] = copy.deepcopy(session)
    return event


def test_a_pass_bought_while_one_runs_starts_where_it_ends_with_its_receipt(handling: Handling) -> None:
    fixture = handling.load("checkout.session.async_payment_succeeded")
    handling.link(fixture.held(Kind.CHECKOUT_SESSION)["customer"], "user_pass", fixture.held(Kind.TEST_CLOCK)["id"])
    first, second = paid_pass(handling, fixture, 1), paid_pass(handling, fixture, 2)

    handling.handle(first)
    [note] = handling.handle(second)

    one, two = handling.order("cs_test_pass_1"), handling.order("cs_test_pass_2")
    assert (one.access_starts_at, one.access_ends_at) == (CLOCK_TIME, THREE_MONTHS_LATER)
    assert (two.access_starts_at, two.access_ends_at) == (THREE_MONTHS_LATER, SIX_MONTHS_LATER)
    assert (two.paid_at, two.invoice_id, two.receipt_url) == (CLOCK_TIME, "in_pass_2", "https://receipts.test/2")
    assert note == f"cs_test_pass_2 order fulfilled: basic until {SIX_MONTHS_LATER}"
    assert HANDLER.foreseen(second) == [(Kind.CHECKOUT_SESSION, "cs_test_pass_2"), (Kind.PAYMENT_INTENT, "pi_pass_2")]


def test_two_passes_fulfilled_at_once_take_turns(
    session_factory: sessionmaker[Session], catalog: Catalog, settings: Settings
) -> None:
    """Two workers fulfil two purchases of one user at the same moment: one waits for the other
    (the orders' lock on PostgreSQL, the single writer on SQLite, retried as the worker retries),
    so the windows follow each other instead of overlapping."""
    with session_factory() as setup:
        arranging = Handling(setup, catalog, settings)
        fixture = arranging.load("checkout.session.async_payment_succeeded")
        # No test clock: nothing else these two transactions write would make them take turns.
        arranging.link(fixture.held(Kind.CHECKOUT_SESSION)["customer"], "user_pass")
        events = [paid_pass(arranging, fixture, n) for n in (1, 2)]
    barrier = threading.Barrier(2)

    def fulfil(event: dict[str, Any]) -> None:
        with session_factory() as own:
            worker = Handling(own, catalog, settings, stripe=arranging.stripe)
            barrier.wait()
            for _ in range(20):
                try:
                    worker.handle(event)
                    return
                except OperationalError:  # SQLite: the other wrote first; the worker retries
                    own.rollback()
            raise AssertionError("never fulfilled")

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(fulfil, events))

    with session_factory() as check:
        (start, first_end), (second_start, end) = sorted(
            (o.access_starts_at, o.access_ends_at) for o in orders.for_user(check, "user_pass")
        )
    assert second_start == first_end
    assert (first_end, end) == (add_calendar_months(start, 3), add_calendar_months(first_end, 3))
