"""What a handler is, and what it is given.

An event says "look again": the handler of an event type re-reads the object from Stripe and
writes what Stripe holds now, so a duplicate, late or reordered event writes the current state
too; unless the event's own payload is provably the newest state of its object, which is then
written without asking Stripe (`paywire.mirror.payloads`). Events about one object that re-read
it the same way (`apply`) are handled together, with one read or one payload; each event type
may add the facts it hints at (`facts`), checked against the state kept, never against the
event's own snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from paywire.mirror import MirrorContext
from paywire.outbox import Fact
from paywire.stripe import Kind, StripeGateway

# A read the worker can make ahead of the handler: (kind, object id).
ReadKey = tuple[Kind, str]


@dataclass(frozen=True)
class EventGroup:
    """Events about one Stripe object, handled together. Oldest received first."""

    events: tuple[dict[str, Any], ...]
    received_at: datetime | None = None  # when the last of them was received
    # Every event's `data.object` is its object's state right after the change it reports
    # (their handlers say so): the payload rule may apply the newest (paywire.mirror.payloads).
    payloads_are_states: bool = False

    @property
    def latest(self) -> dict[str, Any]:
        return self.events[-1]

    @property
    def types(self) -> frozenset[str]:
        return frozenset(str(e.get("type")) for e in self.events)

    @property
    def object_id(self) -> str:
        """The id of the object the events are about."""
        object_id = event_object(self.latest).get("id")
        if not isinstance(object_id, str) or not object_id:
            raise ValueError(f"event {self.latest.get('id')} names no object")
        return object_id


def event_object(event: dict[str, Any]) -> dict[str, Any]:
    """`data.object`: the snapshot the event was sent with (possibly stale)."""
    data = event.get("data") or {}
    obj = data.get("object") if isinstance(data, dict) else None
    return obj if isinstance(obj, dict) else {}


@dataclass
class HandlerContext:
    """The mirror to write through (one transaction, committed by the worker with the
    events' marks) and the gateway, for what the mirror does not read (lists)."""

    mirror: MirrorContext
    gateway: StripeGateway


# Facts an event type hints at, from the state the mirror kept (a Stripe object).
FactRule = Callable[[HandlerContext, dict[str, Any]], list[Fact]]
# The work of a group: re-read, write, record the rules' facts; a note for the log line.
Apply = Callable[[HandlerContext, EventGroup, Sequence[FactRule]], str]
Foresee = Callable[[dict[str, Any]], list[ReadKey]]
Stored = Callable[[ReadKey], dict[str, Any] | None]


@dataclass(frozen=True)
class EventHandler:
    """What paywire does on one event type (declared in the type's own module)."""

    apply: Apply
    reads: Kind | None = None  # the object `data.object` names, re-read by `apply`
    facts: FactRule | None = None
    foresee: Foresee | None = None  # reads beyond `reads` the worker can make ahead
    # `data.object` is the object's state after the change (not, say, a deleted draft's last
    # look): the payload rule may use it instead of re-reading `reads`.
    state_in_payload: bool = True
    # Whether what the mirror stores (`stored`: a foreseen object's stored state, None without
    # a row) serves the event already: then the worker makes none of its foreseen reads ahead
    # (and `apply`, asking the same, makes none either).
    served: Callable[[dict[str, Any], Stored], bool] | None = None

    def foreseen(self, event: dict[str, Any]) -> list[ReadKey]:
        """The reads `apply` will make, as far as the event tells, for the worker to make
        ahead, all of a batch at once. One foreseen but not asked for costs a request, so
        only sure ones are listed."""
        found: list[ReadKey] = []
        object_id = event_object(event).get("id")
        if self.reads is not None and isinstance(object_id, str) and object_id:
            found.append((self.reads, object_id))
        if self.foresee is not None:
            found.extend(self.foresee(event))
        return found
