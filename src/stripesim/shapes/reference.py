"""The pinned API's shapes, as `tools/gen_shape_reference.py` wrote them in `reference.json`.

A field's type is a small language taken from the SDK's TypeScript declarations: alternatives
joined by ` | `, each one of `string`, `number`, `boolean`, `decimal` (a decimal string),
`null`, `true`, `'literal'` (an enum's pinned values are its literals), `map` (free-form
keys), `object` or `any` (not described further), `void` (never present), `T[]` or
`(A | B)[]`, `list<T>` and `search<T>` (Stripe's list objects), `partial<T>`, or the name of a
described type. A field named `name?` may be absent; any other must be present.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

PATH = Path(__file__).parent / "reference.json"


@dataclass(frozen=True)
class Field:
    name: str
    optional: bool
    type: str


@dataclass(frozen=True)
class Reference:
    raw: dict[str, Any]

    @property
    def sdk(self) -> str:
        return str(self.raw["sdk"])

    @property
    def api_version(self) -> str:
        return str(self.raw["api_version"])

    @property
    def objects(self) -> dict[str, str]:
        """`object` value (`deleted_<type>` for a deleted object) -> type name."""
        return dict(self.raw["objects"])

    @property
    def events(self) -> dict[str, str]:
        """Every event type of the pinned API -> the type of its `data.object`."""
        return dict(self.raw["events"])

    @property
    def v2_events(self) -> dict[str, str]:
        """The thin event types stripesim makes -> the type describing each (envelope included)."""
        return dict(self.raw.get("v2_events", {}))

    def fields(self, type_name: str) -> list[Field]:
        return [
            Field(key.rstrip("?"), key.endswith("?"), expr)
            for key, expr in self.raw["types"].get(type_name, {}).items()
        ]

    def described(self, type_name: str) -> bool:
        return bool(self.raw["types"].get(type_name))

    def object_key(self, type_name: str) -> str | None:
        """The `object` value a type's objects carry (`deleted_x` for deleted ones), if any."""
        for key, name in self.raw["objects"].items():
            if name == type_name:
                return str(key)
        found = self.raw["types"].get(type_name, {}).get("object")
        if isinstance(found, str) and found.startswith("'"):
            return ("deleted_" if self.raw["types"][type_name].get("deleted") == "true" else "") + found.strip("'")
        return None


@cache
def load() -> Reference:
    return Reference(json.loads(PATH.read_text()))


def alternatives(expr: str) -> list[str]:
    """The alternatives of a type expression, split at top-level ` | `."""
    parts, depth, start = [], 0, 0
    quoted = False
    for i, ch in enumerate(expr):
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch in "(<":
            depth += 1
        elif not quoted and ch in ")>":
            depth -= 1
        elif not quoted and depth == 0 and ch == "|":
            parts.append(expr[start:i].strip())
            start = i + 1
    parts.append(expr[start:].strip())
    return [p for p in parts if p]


def element(alternative: str) -> str | None:
    """`T` for `T[]` (and `A | B` for `(A | B)[]`); None for anything else."""
    if not alternative.endswith("[]"):
        return None
    inner = alternative[:-2]
    return inner[1:-1] if inner.startswith("(") and inner.endswith(")") else inner


def wrapped(alternative: str, wrapper: str) -> str | None:
    """`T` for `wrapper<T>`; None for anything else."""
    if alternative.startswith(wrapper + "<") and alternative.endswith(">"):
        return alternative[len(wrapper) + 1 : -1]
    return None
