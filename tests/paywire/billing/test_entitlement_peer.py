"""The staleness property's oracle (`entitlement_peer.stale_checks`) on made-up timelines: it
finds an answer the mirror left more than the bound before, and does not blame an answer the
mirror came back to (a pause undone) before the check ended."""

from __future__ import annotations

from tests.paywire.billing.entitlement_peer import Key, Sample, stale_checks

ACTIVE: Key = (True, "pro", "active", None)
PAUSED: Key = (False, None, "paused", None)


def read(at: float, key: Key) -> Sample:
    return Sample("u", at, at + 0.01, key, fresh=True, process="service")


def check(at: float, key: Key) -> Sample:
    return Sample("u", at, at + 0.01, key, fresh=False, process="peer")


def test_an_answer_the_mirror_left_more_than_the_bound_before_is_stale() -> None:
    reads = [read(0.0, ACTIVE), read(0.5, PAUSED), read(1.0, PAUSED), read(2.0, PAUSED)]
    late = check(1.8, ACTIVE)
    assert stale_checks([*reads, late], bound=1.0) == [(late, reads[0], reads[1])]
    assert stale_checks([*reads, check(1.4, ACTIVE)], bound=1.0) == [], "within the bound"


def test_an_answer_the_mirror_came_back_to_before_the_check_ended_is_not_stale() -> None:
    # Paused at 0.5, unpaused between the read at 1.5 and the read at 2.5: a check at 1.8 may
    # already answer active again (the channel can be quicker than the next read).
    reads = [read(0.0, ACTIVE), read(0.5, PAUSED), read(1.5, PAUSED), read(2.5, ACTIVE)]
    assert stale_checks([*reads, check(1.8, ACTIVE)], bound=1.0) == []
    # Before the last read of the pause began, the mirror was provably still paused.
    late = check(1.2, ACTIVE)
    reads = [read(0.0, ACTIVE), read(0.1, PAUSED), read(1.3, PAUSED), read(2.5, ACTIVE)]
    assert stale_checks([*reads, late], bound=1.0) == [(late, reads[0], reads[1])]
