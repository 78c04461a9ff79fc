"""The one way a mirrored object is brought up to date (`paywire.mirror.refresh`), with a
stand-in context, stored row and writer: a held row is not re-read, a payload that may be
applied is written over the row seen, anything else is read and written under the version
rule, and an object Stripe does not know is None. A read that lost to a payload written after
it started is made again; one that lost to a newer read is not."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from paywire.mirror import refresh as mirrored
from paywire.mirror.payloads import BY_VERSION, HELD, ByVersion, Decision, Mark, Offer, Times
from paywire.mirror.reads import Snapshot
from paywire.stripe import Kind, StripeNotFound

MARK = Mark(version=1, time_from=None, time_to=None, from_event=False, state=None)
OFFER = Offer(event_id="evt_1", created=1_700_000_000, state={"id": "in_1", "status": "paid"})
READ = Snapshot(version=42, obj={"id": "in_1", "status": "open"}, times=(5, 6))


AGAIN = Snapshot(version=99, obj={"id": "in_1", "status": "paid"}, times=(7, 8))


@dataclass
class Reads:
    snapshot: Snapshot | None = READ
    asked: list[tuple[Kind, str]] = field(default_factory=list)
    asked_again: list[tuple[Kind, str]] = field(default_factory=list)

    def read(self, kind: Kind, object_id: str) -> Snapshot:
        self.asked.append((kind, object_id))
        if self.snapshot is None:
            raise StripeNotFound(f"No such invoice: '{object_id}'", param="id", code="resource_missing")
        return self.snapshot

    def again(self, kind: Kind, object_id: str) -> Snapshot:
        self.asked_again.append((kind, object_id))
        return AGAIN


@dataclass
class Context:
    decision: Decision
    reads: Reads = field(default_factory=Reads)
    standing: Mark | None = None  # what a write that was not made finds stored

    def decide(self, kind: Kind, object_id: str, offer: Offer | None) -> tuple[Decision, Mark | None]:
        return self.decision, MARK

    def mark_now(self, kind: Kind, object_id: str) -> Mark | None:
        return self.standing


@dataclass
class Kept:
    state: dict[str, Any]
    note: str
    written: bool = True


@dataclass
class Writer:
    """A kind's `_save` and `held`: `applies` says whether a payload wins over the row seen."""

    stored: dict[str, Any] | None = None
    applies: bool = True
    loses_reads_before: int = 0  # a read that started before this version is not written
    calls: list[tuple[dict[str, Any], int, Times, str | None, Any]] = field(default_factory=list)

    def save(
        self,
        ctx: Any,
        fresh: dict[str, Any],
        version: int,
        times: Times,
        *,
        event_id: str | None = None,
        seen: Mark | ByVersion | None = BY_VERSION,
    ) -> Kept | None:
        self.calls.append((fresh, version, times, event_id, seen))
        if not isinstance(seen, ByVersion) and not self.applies:
            return None
        if isinstance(seen, ByVersion) and version < self.loses_reads_before:
            return Kept(self.stored or {}, "kept: newer stored", written=False)
        return Kept(fresh, "written")

    def held(self, ctx: Any, object_id: str, why: str) -> Kept | None:
        return None if self.stored is None else Kept(self.stored, why)


def refresh(ctx: Context, writer: Writer, offer: Offer | None = OFFER) -> Kept | None:
    return mirrored.refresh(ctx, Kind.INVOICE, "in_1", offer, held=writer.held, save=writer.save)  # type: ignore[arg-type]


@pytest.mark.parametrize("decision", [Decision.COVERED, Decision.SKIP])
def test_a_held_row_is_kept_without_asking_stripe(decision: Decision) -> None:
    ctx, writer = Context(decision), Writer(stored={"id": "in_1", "status": "paid"})

    assert refresh(ctx, writer) == Kept({"id": "in_1", "status": "paid"}, HELD[decision])
    assert ctx.reads.asked == [] and writer.calls == []


def test_no_stored_row_to_hold_is_read() -> None:
    ctx, writer = Context(Decision.SKIP), Writer(stored=None)

    assert refresh(ctx, writer) == Kept(READ.obj, "written")
    assert ctx.reads.asked == [(Kind.INVOICE, "in_1")]


def test_a_payload_to_apply_is_written_over_the_row_seen_without_a_read() -> None:
    ctx, writer = Context(Decision.APPLY), Writer()

    assert refresh(ctx, writer) == Kept(OFFER.state, "written")
    [(fresh, _version, times, event_id, seen)] = writer.calls
    assert (fresh, times, event_id, seen) == (OFFER.state, OFFER.times, "evt_1", MARK)
    assert ctx.reads.asked == []


def test_a_payload_that_lost_its_turn_is_read_and_written_under_the_version_rule() -> None:
    ctx, writer = Context(Decision.APPLY), Writer(applies=False)

    assert refresh(ctx, writer) == Kept(READ.obj, "written")
    assert writer.calls[-1] == (READ.obj, READ.version, READ.times, None, BY_VERSION)


def test_an_object_stripe_does_not_know_is_none() -> None:
    ctx, writer = Context(Decision.READ, Reads(snapshot=None)), Writer()

    assert refresh(ctx, writer, offer=None) is None
    assert writer.calls == []


def test_save_read_places_a_read_without_times_by_its_version() -> None:
    writer = Writer()
    state = {"id": "in_1", "status": "open"}

    kept = mirrored.save_read(Context(Decision.READ), Kind.INVOICE, writer.save, state, 42, None)  # type: ignore[arg-type]

    assert kept == Kept(state, "written")
    [(_fresh, version, times, event_id, seen)] = writer.calls
    assert (version, event_id, seen) == (42, None, BY_VERSION)
    assert times != (None, None), "placed from its version and the time it was saved"


PAYLOAD_SINCE = Mark(version=50, time_from=1, time_to=1, from_event=True, state={"id": "in_1", "status": "open"})


def test_a_read_that_lost_to_a_payload_written_after_it_started_is_made_again() -> None:
    # The read (version 42) was in flight while a payload was written (version 50): which is
    # newer is not known, so a read that starts now decides.
    ctx = Context(Decision.READ, standing=PAYLOAD_SINCE)
    writer = Writer(stored=PAYLOAD_SINCE.state, loses_reads_before=50)

    kept = refresh(ctx, writer, offer=None)

    assert kept == Kept(AGAIN.obj, "written")
    assert ctx.reads.asked_again == [(Kind.INVOICE, "in_1")]
    assert [call[1] for call in writer.calls] == [READ.version, AGAIN.version]


@pytest.mark.parametrize(
    "standing",
    [
        Mark(version=50, time_from=1, time_to=1, from_event=False, state={"id": "in_1"}),  # a newer read
        Mark(version=40, time_from=1, time_to=1, from_event=True, state={"id": "in_1"}),  # written before
    ],
    ids=["a-read-started-later", "a-payload-written-before-the-read-started"],
)
def test_a_read_that_lost_to_a_newer_state_is_kept_without_asking_again(standing: Mark) -> None:
    ctx = Context(Decision.READ, standing=standing)
    writer = Writer(stored={"id": "in_1", "status": "paid"}, loses_reads_before=50)

    kept = refresh(ctx, writer, offer=None)

    assert kept is not None and not kept.written
    assert ctx.reads.asked_again == []


def test_a_read_is_made_again_at_most_rereads_times() -> None:
    # Every read loses again (a payload written during each): after REREADS, what stands is kept.
    standing = Mark(version=1000, time_from=1, time_to=1, from_event=True, state={"id": "in_1", "status": "open"})
    ctx = Context(Decision.READ, standing=standing)
    writer = Writer(stored=standing.state, loses_reads_before=1000)

    kept = refresh(ctx, writer, offer=None)

    assert kept is not None and not kept.written
    assert len(ctx.reads.asked_again) == mirrored.REREADS
