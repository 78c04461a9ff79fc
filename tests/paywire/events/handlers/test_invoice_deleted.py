"""`invoice.deleted`: captured when a draft sent by mistake was deleted. Stripe answers 404 for
it: nothing was ever owed on it."""

from __future__ import annotations

from paywire.db.models import Invoice
from tests.paywire.events.handlers.harness import Handling


def test_a_deleted_draft_is_done_without_a_row(handling: Handling) -> None:
    fixture = handling.load("invoice.deleted")

    [note] = handling.handle(fixture.event)

    assert fixture.stripe == {}, "the capture's re-read answered 404"
    assert note == f"{fixture.object_id} no longer in Stripe"
    assert handling.mirrored(Invoice, fixture.object_id) is None
    assert handling.stripe.reads == 1 and handling.facts() == []
