"""`charge.dispute.funds_withdrawn`: captured right after a chargeback opened: Stripe took the
amount while the bank decides. The dispute is mirrored as it stands, alerted once."""

from __future__ import annotations

from paywire.db.models import Dispute
from tests.paywire.events.handlers.harness import Handling


def test_the_dispute_is_mirrored_open(handling: Handling) -> None:
    fixture = handling.load("charge.dispute.funds_withdrawn")

    handling.handle(fixture.event)
    handling.handle(fixture.redelivered())

    row = handling.mirrored(Dispute, fixture.object_id)
    assert row is not None and row.status == "needs_response"
    assert handling.fact_keys() == [f"dispute_opened:{fixture.object_id}"]
