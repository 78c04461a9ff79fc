"""The part of Stripe's search query language that billing code uses."""

from __future__ import annotations

import re
from collections.abc import Callable

from stripesim.errors import InvalidRequest
from stripesim.routes import Ctx
from stripesim.state import Record

_CLAUSE = re.compile(r"""^\s*(metadata\[['"]([^'"]+)['"]\]|[a-z_]+)\s*:\s*['"]([^'"]*)['"]\s*$""")


def matcher(query: str) -> Callable[[Record], bool]:
    clauses = []
    for part in re.split(r"\s+AND\s+", query.strip()):
        m = _CLAUSE.match(part)
        if not m:
            raise InvalidRequest(
                f"stripesim search supports `field:'value'` clauses joined by AND; got {part!r}",
                param="query",
            )
        field, meta_key, value = m.group(1), m.group(2), m.group(3)
        clauses.append((meta_key, field, value))

    def match(record: Record) -> bool:
        for meta_key, field, value in clauses:
            actual = (record.get("metadata") or {}).get(meta_key) if meta_key else record.get(field)
            if actual != value:
                return False
        return True

    return match


def search(ctx: Ctx, object_type: str) -> Record:
    """`GET /v1/<resources>/search`: one page of the records matching `query`."""
    p = ctx.params.only("query", "limit", "page")
    match = matcher(p.str("query", required=True) or "")
    records = [r for r in ctx.state.all(object_type) if match(r)]
    limit = p.int("limit", minimum=1, maximum=100, default=10) or 10
    return {
        "object": "search_result",
        "data": records[:limit],
        "has_more": len(records) > limit,
        "next_page": None,
        "url": ctx.path,
    }
