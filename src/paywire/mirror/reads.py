"""How the mirror reads Stripe: whole objects, each with the time its read started.

`StripeReads` is the one door: the events worker passes its batch's reads (made ahead, in
parallel, kept for the batch: `paywire.events.reads`), everyone else `LiveReads`, which asks
Stripe now. Both are checked by the type checker against this protocol.

A snapshot also says where it stands in its object's own time (`times`, for the payload rule:
`paywire.mirror.payloads`): from when the read started and ended, and the object's test
clock as the same request saw it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from paywire.mirror.payloads import UNKNOWN, Times, read_times
from paywire.mirror.versions import read_version
from paywire.stripe import Kind, StripeGateway
from paywire.stripe.objects import without_clock


@dataclass(frozen=True)
class Snapshot:
    version: int  # when the read started (µs since the epoch)
    obj: dict[str, Any]
    times: Times = UNKNOWN  # (from, to) in the object's time (paywire.mirror.payloads)


class StripeReads(Protocol):
    def read(self, kind: Kind, object_id: str) -> Snapshot:
        """The object as Stripe holds it, read at or after the moment this is asked for.
        Raises the gateway's errors (`StripeNotFound`, `StripeUnavailable`)."""
        ...

    def again(self, kind: Kind, object_id: str) -> Snapshot:
        """A read that starts now, even where `read` would give one made earlier."""
        ...


def timed_read(gateway: StripeGateway, kind: Kind, object_id: str) -> Snapshot:
    """Read one object now, with its version and where it stands in its object's time."""
    version = read_version()
    return snapshot_of(gateway.retrieve(kind, object_id), version, time.time())


def snapshot_of(found: dict[str, Any], version: int, ended: float) -> Snapshot:
    """A read that started at `version` and ended at `ended` (Unix seconds), as the mirror
    keeps it: its test clock, if expanded, as an id (as Stripe's payloads show it)."""
    state, clock = without_clock(found)
    return Snapshot(version, state, read_times(clock, bool(state.get("test_clock")), version / 1e6, ended))


class LiveReads:
    """Reads made now, through the gateway."""

    def __init__(self, gateway: StripeGateway) -> None:
        self.gateway = gateway

    def read(self, kind: Kind, object_id: str) -> Snapshot:
        return timed_read(self.gateway, kind, object_id)

    def again(self, kind: Kind, object_id: str) -> Snapshot:
        return timed_read(self.gateway, kind, object_id)
