"""`charge.dispute.funds_reinstated`: captured when a dispute was won and the money came back.
The dispute is mirrored closed (won) and told once, with `charge.dispute.closed` or alone."""

from __future__ import annotations

from paywire.db.models import Dispute
from tests.paywire.events.handlers.harness import Handling


def test_the_won_dispute_is_mirrored_closed(handling: Handling) -> None:
    fixture = handling.load("charge.dispute.funds_reinstated")

    handling.handle(fixture.event)

    row = handling.mirrored(Dispute, fixture.object_id)
    assert row is not None and row.status == "won" and row.closed_at == fixture.event["created"]
    assert f"dispute_closed:{fixture.object_id}" in handling.fact_keys()
