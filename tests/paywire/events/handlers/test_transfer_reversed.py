"""`transfer.reversed`: captured when half of a seller's $100 sale was refunded with
`reverse_transfer`: $50 of the transfer taken back."""

from __future__ import annotations

from paywire.db.models import ConnectTransfer
from tests.paywire.events.handlers.connect_support import seller_for
from tests.paywire.events.handlers.harness import Handling


def test_what_was_taken_back_is_mirrored(handling: Handling) -> None:
    fixture = handling.load("transfer.reversed")
    seller_for(handling, fixture.object["destination"])

    [note] = handling.handle(fixture.event, fixture.redelivered())

    row = handling.mirrored(ConnectTransfer, fixture.object_id)
    assert row is not None and (row.amount, row.amount_reversed) == (10000, 5000)
    assert "(reversed 5000) kept" in note
