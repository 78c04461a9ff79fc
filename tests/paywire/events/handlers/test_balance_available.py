"""`balance.available` (Connect): captured when a seller's funds from a sale became available.
The event names no object: the account it happened on is read."""

from __future__ import annotations

from tests.paywire.events.handlers.connect_support import seller_for, seller_row
from tests.paywire.events.handlers.harness import Handling


def test_the_seller_balance_is_read_again(handling: Handling) -> None:
    fixture = handling.load("balance.available")
    account = fixture.event["account"]
    seller_for(handling, account)
    held = handling.stripe.connect.held("balance")

    [note] = handling.handle(fixture.event)

    row = seller_row(handling, account)
    assert row.balance_available == {"usd": held["available"][0]["amount"]}
    assert row.balance_pending == {"usd": held["pending"][0]["amount"]}
    assert note.startswith(f"balance of {account}")


def test_the_balance_of_no_seller_is_not_read(handling: Handling) -> None:
    fixture = handling.load("balance.available")

    [note] = handling.handle(fixture.event)

    assert note == "no seller's balance to read" and handling.stripe.reads == 0
