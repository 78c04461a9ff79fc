"""`charge.dispute.updated`: captured when evidence was staged on a disputed pass's dispute
(`submit=false`). The dispute is read again: it has evidence, nothing submitted yet."""

from __future__ import annotations

from paywire.db.models import Dispute
from tests.paywire.events.handlers.dispute_support import disputed_pass
from tests.paywire.events.handlers.harness import Handling


def test_staged_evidence_is_mirrored_and_the_dispute_still_waits(handling: Handling) -> None:
    fixture = handling.load("charge.dispute.updated")
    disputed_pass(handling, fixture)

    handling.handle(fixture.event)

    row = handling.mirrored(Dispute, fixture.object_id)
    assert row is not None
    assert (row.status, row.has_evidence, row.submission_count, row.closed_at) == ("needs_response", True, 0, None)
    assert handling.fact_keys() == [f"dispute_opened:{fixture.object_id}"], "first seen now: alerted"
