"""`payout.created` (Connect): captured when a seller's available balance was paid out to their
bank (test bank account 000123456789). The payout is read on the seller's account."""

from __future__ import annotations

from paywire.db.models import Payout
from tests.paywire.events.handlers.connect_support import seller_for
from tests.paywire.events.handlers.harness import Handling


def test_the_payout_is_mirrored_on_its_seller(handling: Handling) -> None:
    fixture = handling.load("payout.created")
    account = fixture.event["account"]
    seller_for(handling, account)

    handling.handle(fixture.event)
    handling.handle(fixture.redelivered())

    row = handling.mirrored(Payout, fixture.object_id)
    held = handling.stripe.connect.held("payout")
    assert row is not None and (row.account_id, row.amount, row.status) == (account, held["amount"], held["status"])
    assert handling.facts() == []
