"""`payout.failed` (Connect): captured when a seller's bank refused a payout (test bank account
000111111116, `no_account`). The seller is told once, with Stripe's reason."""

from __future__ import annotations

from paywire.db.models import Payout
from tests.paywire.events.handlers.connect_support import seller_for
from tests.paywire.events.handlers.harness import Handling


def test_a_failed_payout_reaches_its_seller_once(handling: Handling) -> None:
    fixture = handling.load("payout.failed")
    account = fixture.event["account"]
    seller_for(handling, account, "user_bad_bank")

    handling.handle(fixture.event)
    handling.handle(fixture.redelivered())

    row = handling.mirrored(Payout, fixture.object_id)
    assert row is not None and (row.status, row.failure_code) == ("failed", "no_account")
    assert handling.facts() == [("payout_failed", f"payout_failed:{fixture.object_id}", "user_bad_bank")]


def test_a_payout_of_nobody_here_tells_nobody(handling: Handling) -> None:
    fixture = handling.load("payout.failed")

    handling.handle(fixture.event)

    assert handling.facts() == []
