"""Compare a JSON object from stripesim with Stripe's example object and the SDK's types.

Rules (one list of problems per object, each naming the path):
- every key of the fixture object is present (where both sides are objects), unless the
  SDK's class does not declare it (the fixture then shows a field the pinned API dropped);
- a key the fixture lacks must be declared in the SDK class's annotations;
- where both values are non-null they have the same JSON type (int and float are one type),
  except that an expandable field may be an id where the fixture shows the object expanded;
- a null value is allowed only where the SDK annotates the field `Optional[...]`;
- free-form maps (`metadata`, `UntypedStripeObject[...]`, `Dict[...]`) are not descended into.
"""

from __future__ import annotations

import importlib
import types
import typing
from functools import cache
from typing import Any

from stripe._object_classes import OBJECT_CLASSES
from stripe._stripe_object import StripeObject, UntypedStripeObject

FREE_FORM_KEYS = {"metadata"}


@cache
def _classes_by_name() -> dict[str, type]:
    out = {}
    for module, name in OBJECT_CLASSES.values():
        out[name] = getattr(importlib.import_module(module), name)
    return out


def sdk_class(object_type: Any) -> type | None:
    """The SDK class of an `object` value ("coupon", "billing.meter", …)."""
    if not isinstance(object_type, str):
        return None  # e.g. an event's `data`, whose `object` is the object itself
    entry = OBJECT_CLASSES.get(object_type)
    if entry is None:
        return None
    return getattr(importlib.import_module(entry[0]), entry[1])


def annotations(cls: type | None) -> dict[str, Any]:
    if cls is None:
        return {}
    out: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        out.update(getattr(klass, "__annotations__", {}))
    return {k: v for k, v in out.items() if typing.get_origin(v) is not typing.ClassVar}


def _args(hint: Any) -> tuple[Any, ...]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def is_optional(hint: Any) -> bool:
    return type(None) in _args(hint)


def _resolve(arg: Any) -> Any:
    if isinstance(arg, typing.ForwardRef):
        return _classes_by_name().get(arg.__forward_arg__)
    if isinstance(arg, str):
        return _classes_by_name().get(arg)
    return arg


def is_free_form(hint: Any) -> bool:
    for arg in _args(hint):
        origin = typing.get_origin(arg) or arg
        if origin in (dict, typing.Dict, UntypedStripeObject):  # noqa: UP006
            return True
        if isinstance(origin, type) and issubclass(origin, UntypedStripeObject):
            return True
    return False


def _expandable(hint: Any) -> bool:
    """An id that may be expanded: `Union[str, SomeObject]` (ExpandableField)."""
    args = [_resolve(a) for a in _args(hint)] if hint is not None else []
    return str in args and any(isinstance(a, type) and issubclass(a, StripeObject) for a in args)


def object_class(hint: Any) -> type | None:
    """The StripeObject subclass a (possibly Optional / Expandable) hint names."""
    for arg in _args(hint):
        arg = _resolve(arg)
        if isinstance(arg, type) and issubclass(arg, StripeObject):
            return arg
    return None


def element_hint(hint: Any) -> Any:
    for arg in _args(hint):
        if typing.get_origin(arg) in (list, typing.List):  # noqa: UP006
            (inner,) = typing.get_args(arg)
            return inner
    return None


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def compare(ours: dict[str, Any], fixture: dict[str, Any] | None, cls: type | None, path: str) -> list[str]:
    problems: list[str] = []
    hints = annotations(cls)
    if fixture is not None:
        for key in fixture:
            if key not in ours and (cls is None or key in hints):
                problems.append(f"{path}.{key}: missing (present in Stripe's fixture)")
    for key, value in ours.items():
        where = f"{path}.{key}"
        expected = fixture.get(key) if fixture is not None else None
        in_fixture = fixture is not None and key in fixture
        if not in_fixture and cls is not None and key not in hints and key != "object":
            problems.append(f"{where}: not a field of the pinned API (SDK {cls.__name__})")
            continue
        hint = hints.get(key)
        if value is None:
            if hint is not None and not is_optional(hint):
                problems.append(f"{where}: null, but the SDK types it non-nullable ({hint})")
            continue
        if expected is not None and json_type(value) != json_type(expected):
            if _expandable(hint) and {json_type(value), json_type(expected)} == {
                "string",
                "object",
            }:
                continue
            problems.append(f"{where}: {json_type(value)} {value!r:.60}, Stripe's fixture has a {json_type(expected)}")
            continue
        if key in FREE_FORM_KEYS or (hint is not None and is_free_form(hint)):
            continue
        if isinstance(value, dict):
            nested_cls = object_class(hint) if hint is not None else None
            if value.get("object") and sdk_class(value["object"]) is not None:
                nested_cls = sdk_class(value["object"])
            nested_fx = expected if isinstance(expected, dict) else None
            if nested_cls is None and nested_fx is None:
                continue
            problems += compare(value, nested_fx, nested_cls, where)
        elif isinstance(value, list):
            inner = element_hint(hint) if hint is not None else None
            inner_cls = object_class(inner) if inner is not None else None
            sample = expected[0] if isinstance(expected, list) and expected else None
            for i, item in enumerate(value):
                if not isinstance(item, dict):
                    if sample is not None and json_type(item) != json_type(sample):
                        problems.append(f"{where}[{i}]: {json_type(item)}, fixture has {json_type(sample)}")
                    continue
                item_cls = inner_cls
                if item.get("object") and sdk_class(item["object"]) is not None:
                    item_cls = sdk_class(item["object"])
                item_fx = sample if isinstance(sample, dict) else None
                if item_cls is None and item_fx is None:
                    continue
                problems += compare(item, item_fx, item_cls, f"{where}[{i}]")
    return problems


def fixture_key(obj: dict[str, Any]) -> str:
    """The fixture entry an object is compared with (`deleted_<type>` for deleted shapes)."""
    return ("deleted_" if obj.get("deleted") else "") + str(obj["object"])
