"""`application_fee.created`: captured when a buyer paid a seller's $100 session: the platform's
15 % fee on the destination charge."""

from __future__ import annotations

from paywire.db.models import ApplicationFee
from tests.paywire.events.handlers.connect_support import seller_for
from tests.paywire.events.handlers.harness import Handling


def test_the_platform_fee_is_mirrored_once(handling: Handling) -> None:
    fixture = handling.load("application_fee.created")
    seller_for(handling, fixture.object["account"])

    handling.handle(fixture.event)
    handling.handle(fixture.redelivered())

    row = handling.mirrored(ApplicationFee, fixture.object_id)
    assert row is not None
    assert (row.account_id, row.charge_id, row.amount, row.amount_refunded) == (
        fixture.object["account"],
        fixture.object["charge"],
        1500,
        0,
    )
    assert handling.session.query(ApplicationFee).count() == 1
