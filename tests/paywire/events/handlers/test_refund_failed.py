"""`refund.failed`: captured when a refund to a card that cannot take it failed. One fact for
the team, however often it is delivered; the money is the merchant's again."""

from __future__ import annotations

from paywire.db.models import OutboxFact, Refund
from tests.paywire.events.handlers.harness import Handling


def test_the_failure_is_told_once(handling: Handling) -> None:
    fixture = handling.load("refund.failed")

    handling.handle(fixture.event)
    handling.handle(fixture.redelivered())

    row = handling.mirrored(Refund, fixture.object_id)
    assert row is not None and row.status == "failed"
    [fact] = handling.session.query(OutboxFact).all()
    assert (fact.kind, fact.payload["failure_reason"], fact.payload["amount_refunded"]) == (
        "refund_failed",
        "expired_or_canceled_card",
        400,
    )
