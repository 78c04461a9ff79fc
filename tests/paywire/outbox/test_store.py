"""The outbox's own rules: one row per fact key whoever records it and only if its transaction
commits; the keys a worker knows are committed."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from paywire.outbox import KnownFacts
from paywire.outbox import store as outbox
from tests.paywire.reactions.test_dispatcher import fact, record, rows


def test_a_fact_is_recorded_once_whoever_records_it_and_only_if_its_transaction_commits(
    session_factory: sessionmaker[Session],
) -> None:
    assert record(session_factory, fact(), fact()) == ["access_granted:sub_1"]
    assert record(session_factory, fact()) == [], "a second event describing the same fact adds nothing"
    with session_factory() as session:
        outbox.record(session, [fact("subscription_canceled:sub_1")])
        session.rollback()  # the mirror change failed: no fact either
    [row] = rows(session_factory)
    assert (row.kind, row.dedup_key, row.state, row.source_event_id) == (
        "access_granted",
        "access_granted:sub_1",
        "pending",
        "evt_1",
    )


def test_known_facts_count_only_once_committed() -> None:
    known = KnownFacts(limit=2)
    known.add_pending("a", new=True)
    assert "a" not in known, "not known before its transaction commits"
    known.rolled_back()
    assert known.committed() == 0 and "a" not in known, "a rolled-back fact is forgotten"
    known.add_pending("a", new=True)
    known.add_pending("b", new=False)
    assert known.committed() == 1, "b was in the outbox already: known, but not new"
    assert "a" in known and "b" in known
    known.clear()
    for key in ("a", "b"):
        known.add_pending(key, new=True)
        known.committed()
    known.add_pending("c", new=True)
    known.committed()
    assert "a" not in known and {"b", "c"} <= {k for k in "abc" if k in known}, "bounded: oldest dropped"
    known.clear()
    assert "b" not in known
