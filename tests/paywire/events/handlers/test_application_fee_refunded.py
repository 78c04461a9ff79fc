"""`application_fee.refunded`: captured when half of a seller's sale was refunded with
`refund_application_fee`: half of the platform's $15 fee given back."""

from __future__ import annotations

from paywire.db.models import ApplicationFee
from tests.paywire.events.handlers.harness import Handling


def test_the_refunded_share_of_the_fee_is_mirrored(handling: Handling) -> None:
    fixture = handling.load("application_fee.refunded")

    handling.handle(fixture.event)

    row = handling.mirrored(ApplicationFee, fixture.object_id)
    assert row is not None and (row.amount, row.amount_refunded) == (1500, 750)
