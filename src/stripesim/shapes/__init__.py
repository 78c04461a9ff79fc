"""Blank object shapes (field names and nesting of the pinned API), from Stripe's fixtures."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any


@cache
def _shapes() -> dict[str, dict[str, Any]]:
    return json.loads((Path(__file__).parent / "blank.json").read_text())


def blank(object_type: str) -> dict[str, Any]:
    """A fresh copy of the shape for `object_type`, every value blank."""
    return copy.deepcopy(_shapes()[object_type])


def simulated_types() -> list[str]:
    return sorted(_shapes())
