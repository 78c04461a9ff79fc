"""Compare a JSON object from stripesim with the pinned API's shape reference.

The reference (`src/stripesim/shapes/reference.json`, from stripe-node 23.1.0's types; see
stripesim.shapes.reference) is the only judge. One problem per finding, each naming the path:
- a field the type always has is missing;
- a field the type does not have is present (an extra field);
- a value has the wrong JSON type, or is an object of another type than the field allows;
- `null` where the field may only be absent (the reverse: absent where it may only be null, is
  a missing field);
- a string outside an enum's pinned values;
- an id where the field is never expandable, or an expanded object of a type stripesim does not
  describe.
An event is checked as an envelope, its type against the pinned event types, and its
`data.object` against the type the pinned API gives that event type; a v2 thin event as the
interface of its type (envelope, `data`, `related_object`).
"""

from __future__ import annotations

from typing import Any

from stripesim.shapes import reference as ref

REFERENCE = ref.load()
SCALAR_TYPES = {"string": str, "decimal": str, "number": (int, float), "boolean": bool}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def object_key(obj: dict[str, Any]) -> str:
    """The reference's key of an object (`deleted_<type>` for a deleted one)."""
    return ("deleted_" if obj.get("deleted") is True else "") + str(obj.get("object"))


def check_object(obj: dict[str, Any], path: str | None = None) -> list[str]:
    """Problems of a top-level object (or an event) served by stripesim."""
    key = object_key(obj)
    path = path or f"{key}({obj.get('id')})"
    type_name = REFERENCE.objects.get(key)
    if type_name is None:
        return [f"{path}: `{key}` is not an object type stripesim serves (no entry in the reference)"]
    if key == "event":
        return check_event(obj, path)
    if key == "v2.core.event":
        return check_thin_event(obj, path)
    return check_fields(obj, type_name, path)


def check_thin_event(event: dict[str, Any], path: str) -> list[str]:
    """A v2 thin event: the envelope and data its type has (an unknown type is one)."""
    type_name = REFERENCE.v2_events.get(str(event.get("type")))
    if type_name is None:
        return [f"{path}.type: {event.get('type')!r} is not a thin event type stripesim makes"]
    return check_fields(event, type_name, path)


def check_event(event: dict[str, Any], path: str) -> list[str]:
    problems = check_fields(event, "EventBase", path, skip=frozenset({"data"}))
    event_type = event.get("type")
    data_type = REFERENCE.events.get(str(event_type))
    if data_type is None:
        return problems  # check_fields said the type is not a pinned one
    data = event.get("data")
    if not isinstance(data, dict):
        return [*problems, f"{path}.data: {json_type(data)}, expected an object"]
    extra = set(data) - {"object", "previous_attributes"}
    problems += [f"{path}.data.{k}: not a field of the pinned API" for k in sorted(extra)]
    if "previous_attributes" in data and not str(event_type).endswith(".updated"):
        problems.append(f"{path}.data.previous_attributes: only `*.updated` events carry it")
    if not isinstance(data.get("previous_attributes", {}), dict):
        problems.append(f"{path}.data.previous_attributes: not an object")
    return problems + check_value(data.get("object"), data_type, f"{path}.data.object", optional=False)


def check_fields(obj: dict[str, Any], type_name: str, path: str, skip: frozenset[str] = frozenset()) -> list[str]:
    if not REFERENCE.described(type_name):
        return [f"{path}: an object of type {type_name}, which stripesim does not serve"]
    problems: list[str] = []
    fields = {f.name: f for f in REFERENCE.fields(type_name)}
    for name, field in fields.items():
        if name in skip:
            continue
        if name not in obj:
            if not field.optional:
                problems.append(f"{path}.{name}: missing (the pinned API always has it: {field.type})")
            continue
        problems += check_value(obj[name], field.type, f"{path}.{name}", optional=field.optional)
    for name in obj:
        if name not in fields and name not in skip:
            problems.append(f"{path}.{name}: not a field of the pinned API ({type_name})")
    return problems


def check_value(value: Any, expr: str, path: str, *, optional: bool) -> list[str]:
    alts = ref.alternatives(expr)
    if "any" in alts:
        return []
    if value is None:
        if "null" in alts:
            return []
        if optional:
            return [f"{path}: null, where Stripe leaves the field out ({expr})"]
        return [f"{path}: null, but the pinned API never has null here ({expr})"]
    if "void" in alts:
        return [f"{path}: present, but the pinned API never has this field here"]
    if isinstance(value, bool):
        if "boolean" in alts or ("true" if value else "false") in alts:
            return []
        return [f"{path}: boolean {value}, expected {expr}"]
    if isinstance(value, int | float):
        return [] if "number" in alts else [f"{path}: number {value}, expected {expr}"]
    if isinstance(value, str):
        return _check_string(value, alts, expr, path)
    if isinstance(value, list):
        elements = [e for e in (ref.element(a) for a in alts) if e is not None]
        if not elements:
            return [f"{path}: an array, expected {expr}"]
        inner = " | ".join(elements)
        problems: list[str] = []
        for i, item in enumerate(value):
            problems += check_value(item, inner, f"{path}[{i}]", optional=False)
        return problems
    return _check_dict(value, alts, expr, path)


def _check_string(value: str, alts: list[str], expr: str, path: str) -> list[str]:
    if "string" in alts or "decimal" in alts or f"'{value}'" in alts:
        return []
    literals = [a for a in alts if a.startswith("'")]
    if literals:
        return [f"{path}: '{value}' is not one of the pinned values ({', '.join(literals)})"]
    return [f"{path}: string {value!r:.40}, expected {expr}"]


def _check_dict(value: dict[str, Any], alts: list[str], expr: str, path: str) -> list[str]:
    if "map" in alts or "object" in alts:
        return []
    for wrapper in ("list", "search"):
        inner = next((w for w in (ref.wrapped(a, wrapper) for a in alts) if w is not None), None)
        if inner is not None and value.get("object") == ("list" if wrapper == "list" else "search_result"):
            return _check_list(value, inner, path)
    named = [a for a in alts if REFERENCE.described(a) or REFERENCE.object_key(a) is not None]
    if "object" in value and isinstance(value["object"], str):
        key = object_key(value)
        matching = [a for a in named if REFERENCE.object_key(a) == key]
        if matching:
            return check_fields(value, matching[0], path)
        if named and all(REFERENCE.object_key(a) is None for a in named):
            return check_fields(value, named[0], path)
        return [f"{path}: an object `{key}`, expected {expr}"]
    structs = [a for a in named if REFERENCE.object_key(a) is None]
    if not structs:
        return [f"{path}: an object, expected {expr}"]
    results = [check_fields(value, s, path) for s in structs]
    return min(results, key=len)


def _check_list(value: dict[str, Any], inner: str, path: str) -> list[str]:
    problems = [f"{path}.{k}: missing from a list object" for k in ("data", "has_more", "url") if k not in value]
    extra = set(value) - {"object", "data", "has_more", "url", "next_page", "total_count"}
    problems += [f"{path}.{k}: not a field of a list object" for k in sorted(extra)]
    for i, item in enumerate(value.get("data") or []):
        problems += check_value(item, inner, f"{path}.data[{i}]", optional=False)
    return problems


def expandable_fields(obj: dict[str, Any]) -> list[str]:
    """Top-level fields of `obj` holding an id that the pinned API lets a caller expand."""
    type_name = REFERENCE.objects.get(object_key(obj))
    if type_name is None:
        return []
    out = []
    for field in REFERENCE.fields(type_name):
        alts = ref.alternatives(field.type)
        value = obj.get(field.name)
        if isinstance(value, str) and "string" in alts and any(REFERENCE.object_key(a) for a in alts):
            out.append(field.name)
    return out
