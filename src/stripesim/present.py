"""How objects leave the simulator: rendered, expanded, paginated."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

from stripesim.errors import InvalidRequest
from stripesim.state import Record, State, deep_copy
from stripesim.wire import Params

# Includable fields: absent unless asked for with expand[] (`customer.sources`,
# `checkout.session.line_items`, `invoice.payments`, a session's `total_details.breakdown`).
# Computed from state when asked.
Includer = Callable[[State, Record], Any]
Keep = Callable[[Record], bool]  # which records a list shows (its filters)
INCLUDABLE: dict[tuple[str, str], Includer] = {}


def includable(object_type: str, field: str) -> Callable[[Includer], Includer]:
    def register(fn: Includer) -> Includer:
        INCLUDABLE[(object_type, field)] = fn
        return fn

    return register


def list_of(records: list[Record], url: str) -> dict[str, Any]:
    return {"object": "list", "data": records, "has_more": False, "url": url}


def paginate(records: Iterable[Record], params: Params, url: str) -> dict[str, Any]:
    """A Stripe list object over records given newest first."""
    limit, after, before = _cursor(params)
    items = list(records)
    if after:
        index = _index(items, after, "starting_after")
        window = items[index + 1 :]
        page, has_more = window[:limit], len(window) > limit
    elif before:
        index = _index(items, before, "ending_before")
        window = items[:index]
        page, has_more = window[-limit:], len(window) > limit
    else:
        page, has_more = items[:limit], len(items) > limit
    return {"object": "list", "data": page, "has_more": has_more, "url": url}


def list_page(
    state: State,
    object_type: str,
    params: Params,
    url: str,
    keep: Keep | None = None,
    *,
    among: list[int] | None = None,
) -> dict[str, Any]:
    """`paginate` over a type's live records that `keep` accepts, newest first, read from the
    cursor on and only until one record past the page: a page costs about its length, not the
    whole collection (`starting_after` and `ending_before` are found by position). `among`:
    the positions that may pass `keep` at all (an index's answer), so that a filter few
    records pass does not cost a pass over the type."""
    limit, after, before = _cursor(params)
    if after:
        start = _anchor(state, object_type, after, keep, "starting_after")
        found = _take(state.walk(object_type, start, among=among), keep, limit + 1)
        page = found[:limit]
    elif before:
        start = _anchor(state, object_type, before, keep, "ending_before")
        found = _take(state.walk(object_type, start, newer=True, among=among), keep, limit + 1)
        page = found[:limit][::-1]
    else:
        found = _take(state.walk(object_type, among=among), keep, limit + 1)
        page = found[:limit]
    return {"object": "list", "data": page, "has_more": len(found) > limit, "url": url}


def _cursor(params: Params) -> tuple[int, str | None, str | None]:
    limit = params.int("limit", minimum=1, maximum=100, default=10) or 10
    after = params.str("starting_after")
    before = params.str("ending_before")
    if after and before:
        raise InvalidRequest(
            "You may only specify one of these parameters: ending_before, starting_after.",
            param="ending_before",
        )
    return limit, after, before


def _anchor(state: State, object_type: str, object_id: str, keep: Keep | None, param: str) -> int:
    """The position of a cursor's record, which must be in the list."""
    position = state.position(object_type, object_id)
    found = state.objects.get(object_id) if position is not None else None
    if position is None or found is None or found.get("deleted") or (keep is not None and not keep(found)):
        raise _not_in_list(object_id, param)
    return position


def _take(records: Iterator[Record], keep: Keep | None, count: int) -> list[Record]:
    return list(islice(records if keep is None else filter(keep, records), count))


def _index(items: list[Record], object_id: str, param: str) -> int:
    for i, item in enumerate(items):
        if item.get("id") == object_id:
            return i
    raise _not_in_list(object_id, param)


def _not_in_list(object_id: str, param: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid {param}: no object with id {object_id} in this list", param=param)


def present(state: State, result: Record, expand: list[str]) -> Record:
    """Render a handler's result (an object or a list of them) and apply `expand[]`."""
    if result.get("object") == "list" and "data" in result:
        shown: Record = dict(result)
        shown["data"] = [state.render(r) if r.get("object") != "list" else r for r in result["data"]]
    elif result.get("object") == "search_result":
        shown = dict(result)
        shown["data"] = [state.render(r) for r in result["data"]]
    else:
        shown = state.render(result)
    if not expand:
        return shown
    shown = deep_copy(shown)
    for path in expand:
        segments = path.split(".")
        if len(segments) > 4:
            raise InvalidRequest(
                f"You cannot expand more than 4 levels of a property. Property: {path}",
                param="expand",
            )
        _expand(state, shown, segments, path)
    return shown


def _expand(
    state: State, node: Any, segments: list[str], path: str, owner: Record | None = None, within: str = ""
) -> Any:
    """Expand `segments` below `node`. `owner` is the nearest object above (or at) it and
    `within` the dotted path from that object to `node`: an includable field of a nested hash
    (`checkout.session`'s `total_details.breakdown`) is registered under that path."""
    if not segments:
        return node
    if isinstance(node, list):
        return [_expand(state, item, segments, path, owner, within) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("object"):
        owner, within = node, ""
    key, rest = segments[0], segments[1:]
    include = INCLUDABLE.get((owner.get("object", ""), within + key)) if owner is not None else None
    if key not in node and include is not None and owner is not None:
        target = state.find(owner.get("id") or "")
        if target is not None:
            node[key] = deep_copy(present(state, include(state, target), []))
    if key not in node:
        raise InvalidRequest(
            f"This property cannot be expanded ({path}). You may want to try expanding 'data.{path}' instead."
            if node.get("object") == "list"
            else f"This property cannot be expanded ({path}).",
            param="expand",
        )
    value = node[key]
    if isinstance(value, str):
        value = _expanded(state, value, path)
    elif isinstance(value, list):
        value = [_expanded(state, v, path) if isinstance(v, str) else v for v in value]
    node[key] = _expand(state, value, rest, path, owner, f"{within}{key}.")
    return node


def _expanded(state: State, object_id: str, path: str) -> Any:
    target = state.find(object_id)
    if target is None:
        raise InvalidRequest(f"This property cannot be expanded ({path}).", param="expand")
    return deep_copy(state.render(target))
