"""Helpers shared by resource modules: metadata updates, deleted shapes, list filters."""

from __future__ import annotations

from stripesim.present import Keep, list_page
from stripesim.routes import Ctx
from stripesim.state import Record
from stripesim.wire import Params, merge_metadata


def apply_metadata(record: Record, params: Params) -> None:
    update = params.metadata()
    if update is not None:
        record["metadata"] = merge_metadata(record.get("metadata") or {}, update)


def deleted(record: Record) -> Record:
    return {"id": record["id"], "object": record["object"], "deleted": True}


def created_filter(params: Params, records: list[Record], key: str = "created") -> list[Record]:
    """Stripe's range filters: `created[gte]=…`, or `created=<ts>` for equality."""
    keep = created_match(params, key)
    return records if keep is None else [r for r in records if keep(r)]


def created_match(params: Params, key: str = "created") -> Keep | None:
    """`created_filter` as a test of one record (None: no filter)."""
    spec = params.raw(key)
    if spec is None:
        return None
    if isinstance(spec, str):
        value = params.int(key)
        return lambda r: r.get(key) == value
    bounds = created_bounds(params, key)
    assert bounds is not None
    low, high = bounds

    def within(r: Record) -> bool:
        v = r.get(key) or 0
        return (low is None or v >= low) and (high is None or v <= high)

    return within


def created_bounds(params: Params, key: str = "created") -> tuple[int | None, int | None] | None:
    """The `created` filter as the lowest and highest value it lets through (None: open;
    no filter at all: None)."""
    spec = params.raw(key)
    if spec is None:
        return None
    if isinstance(spec, str):
        value = params.int(key)
        return value, value
    sub = params.sub(key)
    assert sub is not None
    gt, gte, lt, lte = (sub.int(op) for op in ("gt", "gte", "lt", "lte"))
    lows = [v for v in (gte, None if gt is None else gt + 1) if v is not None]
    highs = [v for v in (lte, None if lt is None else lt - 1) if v is not None]
    return (max(lows) if lows else None), (min(highs) if highs else None)


def filter_equal(records: list[Record], params: Params, *keys: str) -> list[Record]:
    """List filters that compare a field with the parameter of the same name."""
    keep = equal_match(params, *keys)
    return records if keep is None else [r for r in records if keep(r)]


def equal_match(params: Params, *keys: str) -> Keep | None:
    """`filter_equal` as a test of one record (None: no filter)."""
    wanted = [(key, value) for key in keys if (value := params.str(key))]
    if not wanted:
        return None
    return lambda r: all(r.get(key) == value for key, value in wanted)


def every(*tests: Keep | None) -> Keep | None:
    """One test of the given ones (None: no test), all of which a record must pass."""
    kept = [test for test in tests if test is not None]
    if len(kept) <= 1:
        return kept[0] if kept else None
    return lambda r: all(test(r) for test in kept)


def list_where(ctx: Ctx, object_type: str, *equal: str) -> Record:
    """GET /v1/<objects> filtered by `created` and by parameters that must equal a field."""
    p = ctx.params.only(*equal, "limit", "starting_after", "ending_before", "created")
    keep = every(equal_match(p, *equal), created_match(p))
    return list_page(ctx.state, object_type, p, ctx.path, keep)
