"""Blank object shapes (field names and nesting of the pinned API), from Stripe's fixtures,
and new records that start from them so no field of the API is ever missing."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from stripesim.ids import new_id


@cache
def _shapes() -> dict[str, bytes]:
    raw = json.loads((Path(__file__).parent / "blank.json").read_text())
    return {name: orjson.dumps(shape) for name, shape in raw.items()}


def blank(object_type: str) -> dict[str, Any]:
    """A fresh copy of the shape for `object_type`, every value blank."""
    return orjson.loads(_shapes()[object_type])


def new_record(object_type: str, prefix: str, /, *, created: int, **fields: Any) -> dict[str, Any]:
    """A record of `object_type` with every field of the API's shape, filled from `fields`."""
    record = blank(object_type)
    record["id"] = new_id(prefix)
    if "created" in record:
        record["created"] = created
    if "livemode" in record:
        record["livemode"] = False
    if "metadata" in record:
        record["metadata"] = {}
    record.update(fields)
    return record
