"""`customer.subscription.pending_update_expired`: captured when an upgrade from Basic to Pro
that waited for its payment lapsed unpaid 23 hours later: the subscription stays Basic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling, plan_of


def test_the_lapsed_upgrade_leaves_the_plan_it_was(handling: Handling) -> None:
    fixture = handling.load("customer.subscription.pending_update_expired")
    handling.link(fixture.held(Kind.SUBSCRIPTION)["customer"])

    handling.handle(fixture.event)

    assert plan_of(handling.subscription(fixture.object_id)) == ("active", "basic", "month", 1, "user_1")


def test_a_read_stored_after_the_event_arrived_makes_another_needless(handling: Handling) -> None:
    fixture = handling.load("customer.subscription.pending_update_expired")
    received_at = datetime.now(UTC) - timedelta(seconds=1)  # beyond the hosts' clock margin
    handling.store_newer(Kind.SUBSCRIPTION, fixture.held(Kind.SUBSCRIPTION))

    [note] = handling.handle(fixture.event, received_at=received_at)

    assert note == f"{fixture.object_id} active: already read after these events, not re-read"
    assert handling.stripe.reads == 0
