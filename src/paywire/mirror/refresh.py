"""How a mirrored object is brought up to date, the same for every kind that follows the
payload rule (`paywire.mirror.payloads`): nothing to do if the mirror already holds what the
events announce, their newest payload if it is provably newer than what is stored, else a
fresh read. Each kind's module says how its row reads back and how its state is written.

A read that loses to a payload written after the read started is made again. That payload was
decided on what was stored before the read, so which of the two is newer is not known: its
event may announce a change the read already shows (an unpause's first `updated`, still
`paused`, applied while the operation's own re-read was in flight), or one after it. A read
that starts after the payload was written is newer than both.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from paywire.metrics import MIRROR_REREADS_AFTER_PAYLOAD, WEBHOOK_PAYLOADS_APPLIED, WEBHOOK_REREADS_SKIPPED
from paywire.mirror.context import MirrorContext
from paywire.mirror.payloads import BY_VERSION, HELD, ByVersion, Decision, Mark, Offer, Times
from paywire.mirror.reads import snapshot_of
from paywire.mirror.versions import read_version
from paywire.stripe import Kind, StripeNotFound

# How many times in a row a read is made again after losing to a payload: each time takes yet
# another payload written while the read was in flight.
REREADS = 2


class Kept(Protocol):
    """What a kind's write leaves standing."""

    @property
    def written(self) -> bool:
        """Whether this write stored it (False: a newer state stands)."""
        ...


K = TypeVar("K", bound=Kept)
K_co = TypeVar("K_co", bound=Kept, covariant=True)


class Save(Protocol[K_co]):
    """A kind's `_save`: write `fresh` read at `version` under the version rule (or, with
    `seen`, only over the row seen: None when it was someone else's turn); what stands after."""

    def __call__(
        self,
        ctx: MirrorContext,
        fresh: dict[str, Any],
        version: int,
        times: Times,
        *,
        event_id: str | None = None,
        seen: Mark | ByVersion | None = BY_VERSION,
    ) -> K_co | None: ...


def refresh(
    ctx: MirrorContext,
    kind: Kind,
    object_id: str,
    offer: Offer | None,
    *,
    held: Callable[[MirrorContext, str, str], K | None],
    save: Save[K],
) -> K | None:
    """The object as the mirror holds it once brought up to date; None if Stripe does not
    know it. `held(ctx, object_id, why)`: the stored row as the kind keeps it, None if there
    is none."""
    decision, mark = ctx.decide(kind, object_id, offer)
    if decision.needs_no_write:
        kept = held(ctx, object_id, HELD[decision])
        if kept is not None:
            WEBHOOK_REREADS_SKIPPED.inc()
            return kept
    if decision is Decision.APPLY and offer is not None:
        applied = save(ctx, offer.state, read_version(), offer.times, event_id=offer.event_id, seen=mark)
        if applied is not None:
            WEBHOOK_PAYLOADS_APPLIED.labels(kind=kind.value).inc()
            return applied
    try:
        snapshot = ctx.reads.read(kind, object_id)
    except StripeNotFound:
        return None
    return save_read(ctx, kind, save, snapshot.obj, snapshot.version, snapshot.times)


def save_read(
    ctx: MirrorContext, kind: Kind, save: Save[K], fresh: dict[str, Any], version: int, times: Times | None
) -> K:
    """Write a read made at `version` under the version rule; what stands after. `times`:
    where the read stands in the object's time (None: from the test clock the read expanded,
    or from `version` and now for an object on no clock). Made again if it lost to a payload
    written after it started (see the module docstring)."""
    rereads = 0
    while True:
        if times is None:
            snapshot = snapshot_of(fresh, version, time.time())
            fresh, times = snapshot.obj, snapshot.times
        kept = save(ctx, fresh, version, times)
        assert kept is not None  # a read is always written or kept
        if kept.written or rereads == REREADS or not overtaken(ctx.mark_now(kind, fresh["id"]), version):
            return kept
        rereads += 1
        MIRROR_REREADS_AFTER_PAYLOAD.labels(kind=kind.value).inc()
        try:
            again = ctx.reads.again(kind, fresh["id"])
        except StripeNotFound:
            return kept
        fresh, version, times = again.obj, again.version, again.times


def overtaken(mark: Mark | None, version: int) -> bool:
    """Whether the stored state `mark` is a payload written after a read made at `version`
    started: which of the two is newer is not known, and a read made now decides."""
    return mark is not None and mark.from_event and (mark.version or 0) > version
