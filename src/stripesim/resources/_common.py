"""Helpers shared by resource modules: new records, updates, lists."""

from __future__ import annotations

from typing import Any

from stripesim.ids import new_id
from stripesim.routes import Ctx
from stripesim.shapes import blank
from stripesim.state import Record, State
from stripesim.wire import Params, merge_metadata


def new_record(state: State, object_type: str, prefix: str, /, *, created: int, **fields: Any) -> Record:
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


def apply_metadata(record: Record, params: Params) -> None:
    update = params.metadata()
    if update is not None:
        record["metadata"] = merge_metadata(record.get("metadata") or {}, update)


def deleted(record: Record) -> Record:
    return {"id": record["id"], "object": record["object"], "deleted": True}


def created_filter(params: Params, records: list[Record], key: str = "created") -> list[Record]:
    """Stripe's range filters: `created[gte]=…`, or `created=<ts>` for equality."""
    spec = params.raw(key)
    if spec is None:
        return records
    if isinstance(spec, str):
        value = params.int(key)
        return [r for r in records if r.get(key) == value]
    sub = params.sub(key)
    assert sub is not None
    bounds = {op: sub.int(op) for op in ("gt", "gte", "lt", "lte")}
    out = []
    for r in records:
        v = r.get(key) or 0
        if bounds["gt"] is not None and not v > bounds["gt"]:
            continue
        if bounds["gte"] is not None and not v >= bounds["gte"]:
            continue
        if bounds["lt"] is not None and not v < bounds["lt"]:
            continue
        if bounds["lte"] is not None and not v <= bounds["lte"]:
            continue
        out.append(r)
    return out


def list_url(ctx: Ctx) -> str:
    return ctx.path


def filter_equal(records: list[Record], params: Params, *keys: str) -> list[Record]:
    """List filters that compare a field with the parameter of the same name."""
    for key in keys:
        value = params.str(key)
        if value:
            records = [r for r in records if r.get(key) == value]
    return records
