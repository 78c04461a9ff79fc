"""`subscription_schedule.updated`: captured when the schedule got paywire's two phases: two seats of
Pro until the period end, then one of Basic."""

from __future__ import annotations

from typing import Any

from tests.paywire.events.handlers.harness import Handling


def prices_of(phase: dict[str, Any]) -> list[tuple[str, int]]:
    return [(item["price"]["lookup_key"], item["quantity"]) for item in phase["items"]]


def test_the_phases_keep_their_prices_expanded_to_name_the_plans(handling: Handling) -> None:
    fixture = handling.load("subscription_schedule.updated")

    handling.handle(fixture.event)

    row = handling.schedule(fixture.object_id)
    assert [prices_of(phase) for phase in row.phases] == [[("pro_month", 2)], [("basic_month", 1)]]
    assert row.phases[0]["end_date"] == row.phases[1]["start_date"], "the downgrade starts when the period ends"
    assert row.phases[1]["metadata"] == {"paywire_plan": "basic", "paywire_interval": "month"}
