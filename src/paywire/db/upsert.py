"""INSERT … ON CONFLICT on both supported databases.

Racing writers of one row (an API call and the worker mirroring the same Stripe object) must
not fail on the unique key: the first insert wins, the others find the row and update it.

The worker's upserts (`upsert_statement`) are built once per table, columns and database and
executed with parameters: building and compiling an `ON CONFLICT DO UPDATE` over a few dozen
columns costs more CPU than the database takes to run it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Table, or_
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


_STATEMENTS: dict[tuple[str, str, tuple[str, ...], bool], Any] = {}


def upsert_statement(session: Session, table: Table, columns: tuple[str, ...], *, versioned: bool) -> Any:
    """`INSERT (columns) … ON CONFLICT (id) DO UPDATE SET every other column`, to execute with
    a row (or rows) of parameters. `versioned`: the update happens only where the stored
    `stripe_version` is unset or not newer than the new row's, and the statement returns the
    id of a row inserted or updated (none: a newer read is stored)."""
    dialect = session.get_bind().dialect.name
    key = (dialect, table.name, columns, versioned)
    statement = _STATEMENTS.get(key)
    if statement is None:
        insert = dialect_insert(session, table)
        where: ColumnElement[bool] | None = None
        if versioned:
            where = or_(table.c.stripe_version.is_(None), table.c.stripe_version <= insert.excluded.stripe_version)
        statement = insert.on_conflict_do_update(
            index_elements=[table.c.id],
            set_={name: insert.excluded[name] for name in columns if name != "id"},
            where=where,
        )
        if versioned:
            statement = statement.returning(table.c.id)
        _STATEMENTS[key] = statement
    return statement
