"""Reading the parts of an event every handler needs."""

from __future__ import annotations

from typing import Any


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
