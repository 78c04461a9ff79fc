"""Regenerate stripesim's blank object shapes (`src/stripesim/shapes/blank.json`).

Usage: python tools/gen_shapes.py ../shared/stripe/fixtures3.json

The fields come from the pinned API's shape reference (`reference.json`, written by
tools/gen_shape_reference.py): every field it says is always present, and those of the fields
it says may be absent that Stripe's example object shows (the example tells which optional fields
a plain object carries in practice). A field the reference does not have is left out, and so is an
optional field the example shows as null where the reference does not allow null (Stripe leaves
it out). Every value is blank (null, false, an empty list or map, a nested blank object); the
`object` value and other single-literal fields keep their literal; stripesim's builders fill in
real values.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from stripesim.shapes import reference as ref

OUT = Path(__file__).resolve().parent.parent / "src" / "stripesim" / "shapes" / "blank.json"


def blank_value(reference: ref.Reference, expr: str, example: Any) -> Any:
    alts = ref.alternatives(expr)
    if alts == ["true"]:
        return True
    if "null" in alts:
        return None
    if any(a in ("boolean", "true", "false") for a in alts):
        return False
    if any(ref.element(a) is not None for a in alts):
        return []
    if any(ref.wrapped(a, "list") is not None for a in alts):
        return {"object": "list", "data": [], "has_more": False, "url": None}
    if "map" in alts:
        return {}
    if len(alts) == 1 and alts[0].startswith("'"):
        return alts[0][1:-1]
    if len(alts) == 1 and reference.described(alts[0]) and reference.object_key(alts[0]) is None:
        return blank(reference, alts[0], example if isinstance(example, dict) else None)
    return None


def blank(reference: ref.Reference, type_name: str, example: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in reference.fields(type_name):
        shown = example is not None and field.name in example
        if field.optional and not shown:
            continue
        value = example.get(field.name) if example is not None else None
        if field.optional and value is None and "null" not in ref.alternatives(field.type):
            continue
        out[field.name] = blank_value(reference, field.type, value)
    return out


def main() -> None:
    examples = json.loads(Path(sys.argv[1]).read_text())["resources"]
    reference = ref.load()
    shapes = {
        key: blank(reference, type_name, examples.get(key))
        for key, type_name in reference.objects.items()
        if key != "event"
    }
    OUT.write_text(json.dumps(shapes, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(shapes)} shapes to {OUT} ({reference.sdk}, {reference.api_version})")


if __name__ == "__main__":
    main()
