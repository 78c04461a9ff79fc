"""`subscription_schedule.aborted`: stripesim never sends it; the fixture is derived from
`subscription_schedule.canceled` (see its `_derived_from`)."""

from __future__ import annotations

from paywire.db.models import SubscriptionSchedule
from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling


def test_the_aborted_schedule_is_mirrored_canceled(handling: Handling) -> None:
    fixture = handling.load("subscription_schedule.aborted")

    handling.handle(fixture.event)

    assert handling.schedule(fixture.object_id).status == "canceled"


def test_a_schedule_stripe_answers_404_for_is_done_without_a_row(handling: Handling) -> None:
    fixture = handling.load("subscription_schedule.aborted")
    handling.stripe.forget(Kind.SUBSCRIPTION_SCHEDULE, fixture.object_id)

    [note] = handling.handle(fixture.event)

    assert note == f"{fixture.object_id} not in Stripe"
    assert handling.mirrored(SubscriptionSchedule, fixture.object_id) is None
