"""Reading the parts of an event every handler needs, and the group a handler gets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class EventGroup:
    """Events about one Stripe object, handled together: one re-read answers them all,
    since each only says "look again". Oldest received first; `latest` is the last one."""

    events: tuple[dict[str, Any], ...]
    received_at: datetime | None = None  # when the last of them was received

    @property
    def latest(self) -> dict[str, Any]:
        return self.events[-1]

    @property
    def types(self) -> frozenset[str]:
        return frozenset(str(e.get("type")) for e in self.events)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(str(e.get("id")) for e in self.events)

    @classmethod
    def of(cls, *events: dict[str, Any], received_at: datetime | None = None) -> EventGroup:
        if not events:
            raise ValueError("an event group needs at least one event")
        return cls(tuple(events), received_at)


def event_object(event: dict[str, Any]) -> dict[str, Any]:
    """`data.object`: the snapshot the event was sent with (possibly stale)."""
    data = event.get("data") or {}
    obj = data.get("object") if isinstance(data, dict) else None
    return obj if isinstance(obj, dict) else {}


def event_object_id(event: dict[str, Any]) -> str:
    object_id = event_object(event).get("id")
    if not isinstance(object_id, str) or not object_id:
        raise ValueError(f"event {event.get('id')} names no object")
    return object_id
