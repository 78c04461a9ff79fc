"""INSERT … ON CONFLICT DO NOTHING on both supported databases.

Racing writers of one row (an API call and the worker mirroring the same Stripe object) must
not fail on the unique key: the first insert wins, the others find the row and update it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session


def insert_ignoring_duplicates(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    session.execute(dialect_insert(session, model).values(rows).on_conflict_do_nothing())


def dialect_insert(session: Session, model: Any) -> Any:
    """The database's own INSERT construct (with `on_conflict_do_nothing/update`)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return pg_insert(model)
    if dialect == "sqlite":
        return sqlite_insert(model)
    raise NotImplementedError(f"paywire does not support {dialect}")  # pragma: no cover
