"""`transfer.created`: captured when a buyer paid a seller's $100 session with a 15 % fee (a
destination charge): the transfer of the whole payment to the seller, the sale it pays for read
from its charge, and the seller's balance."""

from __future__ import annotations

from paywire.db.models import ConnectTransfer
from tests.paywire.events.handlers.connect_support import seller_for, seller_row
from tests.paywire.events.handlers.harness import Handling


def test_the_sale_is_mirrored_once_with_the_seller_balance(handling: Handling) -> None:
    fixture = handling.load("transfer.created")
    account = fixture.object["destination"]
    seller_for(handling, account)

    handling.handle(fixture.event)
    handling.handle(fixture.redelivered())

    rows = handling.session.query(ConnectTransfer).all()
    assert [(r.id, r.account_id, r.amount, r.gross, r.product, r.buyer_user_id) for r in rows] == [
        (fixture.object_id, account, 10000, 10000, "session-60", "user_fixture_buyer")
    ]
    assert rows[0].charge_id == fixture.object["source_transaction"]
    assert seller_row(handling, account).balance_pending == {"usd": 8500}
    assert handling.facts() == []


def test_a_transfer_stripe_no_longer_has_changes_nothing(handling: Handling) -> None:
    fixture = handling.load("transfer.created")
    handling.stripe.connect.forget("transfer", fixture.object_id)

    [note] = handling.handle(fixture.event)

    assert note == f"{fixture.object_id} not found in Stripe: nothing to mirror"
    assert handling.session.query(ConnectTransfer).count() == 0
