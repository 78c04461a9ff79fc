"""`invoice.voided`: captured when an invoice sent for payment was voided: nothing is owed on it."""

from __future__ import annotations

from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling


def test_the_void_replaces_the_open_invoice_mirrored_before(handling: Handling) -> None:
    fixture = handling.load("invoice.voided")
    open_before = {**fixture.held(Kind.INVOICE), "status": "open"}
    handling.store_newer(Kind.INVOICE, open_before)  # read before the void, so older than the re-read

    handling.handle(fixture.event)

    assert handling.invoice(fixture.object_id).status == "void"
    assert handling.facts() == []
