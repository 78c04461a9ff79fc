"""The payload rule: apply an event's own payload when it is provably the newest state of its
object, re-read only when that is uncertain. Pure: no I/O.

An event's `data.object` is its object as it stood right after the change the event reports.
Re-reading it from Stripe on every event is safe but costs a request each; applying the
payload is safe only when no state newer than it has been applied, which a payload cannot say
by itself. What can be known:

- Where a state stands in its object's own time (the test clock's time for an object on a
  clock, Stripe's otherwise): every stored state carries `stripe_time_from`/`stripe_time_to`,
  meaning "every change made before `from` is in it, none made after `to`". A payload stands
  at its event's `created` (from = to = created: the changes of earlier seconds happened
  before it, those of later seconds after). A read stands between the start and the end of
  the read, in Stripe's time, widened by a margin for the two clocks (`STRIPE_CLOCK_MARGIN`);
  a read of an object on a test clock carries the clock (expanded in the same request) and
  stands at its frozen time (ready), or between it and the target (advancing).
- What only moves forward (`progress`): an invoice's status transitions and attempts, a
  subscription leaving `incomplete` (its first status only) and ending. A state further along
  than another is the later one, whatever their `created` (which ties within a second and
  within a test clock's step).

So for the events about one object handled together: their newest payload is the one whose
`created` is the largest and which every other event of that second equals or precedes by
progress (none: uncertain). Against the stored state:
- later (created after its `to`, or further along): apply it. It holds every change the
  stored state holds (they were all made before it) and those of every handled event.
- earlier (created before its `from`, or behind it), or the very state stored: nothing to do,
  the mirror already holds what those events announce.
- otherwise (the same second, or a state whose time is not known): re-read, as always.
The rule never moves the mirror back: an older payload arriving after a newer state was
applied is earlier, or uncertain, never later. Events about the object that are not handled
now (waiting for a retry, or not yet delivered) are handled on their own turn by the same
rule, so applying the newest of those at hand is safe without waiting for them.

Only events whose payload is the object's state take part (a deleted draft's `invoice.deleted`
does not, nor a connected account's event), and only whole payloads the mirror can store as a
read would (a subscription with discounts is re-read: the mirror keeps their coupons, which a
payload names by id only).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from paywire.mirror.versions import covers
from paywire.stripe import Kind

# How far Stripe's clock and this host's may disagree (seconds), on top of the second that an
# event's `created` rounds down.
STRIPE_CLOCK_MARGIN = 2.0

# What a state stands at in its object's time: (from, to); None where not known.
Times = tuple[int | None, int | None]
UNKNOWN: Times = (None, None)


@dataclass(frozen=True)
class Offer:
    """The newest payload among the events handled together."""

    event_id: str
    created: int
    state: dict[str, Any]

    @property
    def times(self) -> Times:
        return (self.created, self.created)


@dataclass(frozen=True)
class Mark:
    """What the mirror holds about a stored state."""

    version: int | None
    time_from: int | None
    time_to: int | None
    from_event: bool  # a payload's state (its version is when it was written, not a read's start)
    state: dict[str, Any] | None  # the object as stored


class ByVersion:
    """A write under the version rule (a read's state), not over a row seen (a payload's)."""


BY_VERSION = ByVersion()


class Decision(Enum):
    COVERED = "covered"  # a read stored started after the events arrived: it holds them
    SKIP = "skip"  # the stored state is provably newer than the events' newest payload
    APPLY = "apply"  # write the newest payload
    READ = "read"  # uncertain: re-read from Stripe

    @property
    def needs_no_write(self) -> bool:
        return self in (Decision.COVERED, Decision.SKIP)


# The log line's note when a group needs no write.
HELD = {
    Decision.COVERED: "already read after these events, not re-read",
    Decision.SKIP: "the mirror holds a newer state than these events show, not re-read",
}


def progress(kind: Kind, state: dict[str, Any]) -> tuple[int, ...] | None:
    """Figures of a state that never go back as its object changes (None: none for this kind)."""
    if kind is Kind.INVOICE:
        transitions = state.get("status_transitions") or {}
        done = ("finalized_at", "paid_at", "voided_at", "marked_uncollectible_at")
        return (*(int(transitions.get(name) is not None) for name in done), int(state.get("attempt_count") or 0))
    if kind is Kind.SUBSCRIPTION:
        # `incomplete` is only ever a subscription's first status; `canceled` and
        # `incomplete_expired` its last.
        status = state.get("status")
        return (int(status != "incomplete"), int(status in ("canceled", "incomplete_expired")))
    return None


def precedes(earlier: tuple[int, ...] | None, later: tuple[int, ...] | None) -> bool:
    """Whether a state with progress `later` provably came after one with `earlier`."""
    if earlier is None or later is None or len(earlier) != len(later):
        return False
    return all(a <= b for a, b in zip(earlier, later, strict=True)) and earlier != later


# What a payload must show to be kept as a read would be: the object, whose it is, its items.
REQUIRED: dict[Kind, tuple[str, ...]] = {
    Kind.SUBSCRIPTION: ("customer", "status", "items", "created"),
    Kind.INVOICE: ("customer", "status", "status_transitions", "created"),
}


def storable(kind: Kind, state: dict[str, Any]) -> bool:
    """Whether the mirror can keep this payload as it keeps a read of the object."""
    required = REQUIRED.get(kind)
    if required is None or state.get("object") != kind.value or any(state.get(f) is None for f in required):
        return False
    # A read expands a subscription's discounts' coupons (the revenue ledger deducts forever ones).
    return not (kind is Kind.SUBSCRIPTION and state.get("discounts"))


def newest_offer(kind: Kind, object_id: str, events: Iterable[dict[str, Any]]) -> Offer | None:
    """The payload of these events (about one object) that is provably the newest of them,
    if one is and the mirror can store it."""
    offers: list[Offer] = []
    for event in events:
        data = event.get("data") or {}
        state = data.get("object") if isinstance(data, dict) else None
        created = event.get("created")
        if not isinstance(state, dict) or state.get("id") != object_id or not isinstance(created, int):
            return None
        if event.get("account"):  # a connected account's object: not this account's to mirror
            return None
        offers.append(Offer(str(event.get("id")), created, state))
    if not offers:
        return None
    latest = max(o.created for o in offers)
    top = [o for o in offers if o.created == latest]
    for candidate in top:
        mine = progress(kind, candidate.state)
        if all(
            other is candidate or other.state == candidate.state or precedes(progress(kind, other.state), mine)
            for other in top
        ):
            return candidate if storable(kind, candidate.state) else None
    return None


def decide(
    kind: Kind, mark: Mark | None, offer: Offer | None, *, received_at: datetime | None, clock_skew: float
) -> Decision:
    """What to do for events received by `received_at` (the last of them), whose newest
    payload is `offer` (None: no usable payload), against the stored state `mark` (None: no
    row)."""
    if mark is not None and not mark.from_event and covers(received_at, mark.version, clock_skew):
        return Decision.COVERED
    if offer is None:
        return Decision.READ
    if mark is None:
        return Decision.APPLY
    mine = progress(kind, offer.state)
    stored = progress(kind, mark.state) if mark.state is not None else None
    later = (mark.time_to is not None and offer.created > mark.time_to) or precedes(stored, mine)
    earlier = (mark.time_from is not None and offer.created < mark.time_from) or precedes(mine, stored)
    if not later and offer.state == mark.state:
        return Decision.SKIP  # the mirror shows exactly this state already
    if later and not earlier:
        return Decision.APPLY
    if earlier and not later:
        return Decision.SKIP
    return Decision.READ


def read_times(clock: dict[str, Any] | None, on_clock: bool, started: float, ended: float) -> Times:
    """Where a read made between `started` and `ended` (this host's Unix seconds) stands in its
    object's time. `clock`: the object's test clock as the same request saw it (expanded);
    `on_clock` without it: on a clock whose time the read did not see (not known)."""
    if clock is not None:
        frozen = clock.get("frozen_time")
        if not isinstance(frozen, int):
            return UNKNOWN
        if clock.get("status") == "ready":
            return (frozen, frozen)
        target = ((clock.get("status_details") or {}).get("advancing") or {}).get("target_frozen_time")
        return (frozen, target if isinstance(target, int) else None)
    if on_clock:
        return UNKNOWN
    return (math.floor(started - STRIPE_CLOCK_MARGIN), math.ceil(ended + STRIPE_CLOCK_MARGIN))
