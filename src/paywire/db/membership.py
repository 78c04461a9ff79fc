"""`column IN (values)` for a page's worth of values, the way each database takes it best.

SQLite gets `IN (?, ?, …)`. PostgreSQL gets `column = ANY(:values)`: one array parameter, so the
statement's text is the same whatever the number of values, and the driver parses it once and
the server plans it once, where `IN` with a hundred parameters is a new long statement that
psycopg parses again on every call (it caches no statement of over 50 parameters). A sync page
runs a dozen such lookups."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, all_, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from paywire.db.engine import on_postgresql


def among(session: Session, column: Any, values: Collection[Any]) -> ColumnElement[bool]:
    """`column IN values`."""
    if on_postgresql(session):
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))


def not_among(session: Session, column: Any, values: Collection[Any]) -> ColumnElement[bool]:
    """`column NOT IN values` (true for every row when there are none)."""
    if on_postgresql(session):
        return column != all_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.not_in(list(values))
