"""Blank object shapes (field names and nesting of the pinned API), from Stripe's fixtures."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import orjson


@cache
def _shapes() -> dict[str, bytes]:
    raw = json.loads((Path(__file__).parent / "blank.json").read_text())
    return {name: orjson.dumps(shape) for name, shape in raw.items()}


def blank(object_type: str) -> dict[str, Any]:
    """A fresh copy of the shape for `object_type`, every value blank."""
    return orjson.loads(_shapes()[object_type])


def simulated_types() -> list[str]:
    return sorted(_shapes())
