"""INSERT … ON CONFLICT on both supported databases.

Racing writers of one row (an API call and the worker mirroring the same Stripe object) must
not fail on the unique key: the first insert wins, the others find the row and update it.

The worker's upserts (`upsert_statement`) are built once per table, columns and database and
executed with parameters: building and compiling an `ON CONFLICT DO UPDATE` over a few dozen
columns costs more CPU than the database takes to run it.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import ColumnElement, Table, bindparam, or_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session


def insert_ignoring_duplicates(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    """One executemany on the table (a statement compiled once, not rows inlined into VALUES
    and compiled anew each call: a sync adds a page of ids per transaction)."""
    if not rows:
        return
    table = cast(Table, getattr(model, "__table__", model))
    session.execute(dialect_insert(session, table).on_conflict_do_nothing(), rows)


def dialect_insert(session: Session, model: Any) -> Any:
    """The database's own INSERT construct (with `on_conflict_do_nothing/update`)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return pg_insert(model)
    if dialect == "sqlite":
        return sqlite_insert(model)
    raise NotImplementedError(f"paywire does not support {dialect}")  # pragma: no cover


_STATEMENTS: dict[tuple[str, str, tuple[str, ...], bool, bool, bool], Any] = {}
# The parameter of a guarded upsert: the `stripe_version` the writer saw stored (None: no row).
SEEN_VERSION = "seen_stripe_version"


def upsert_statement(
    session: Session,
    table: Table,
    columns: tuple[str, ...],
    *,
    versioned: bool,
    guarded: bool = False,
    returning: bool = True,
) -> Any:
    """`INSERT (columns) … ON CONFLICT (id) DO UPDATE SET every other column`, to execute with
    a row (or rows) of parameters. `versioned`: the update happens only where the stored
    `stripe_version` is unset or not newer than the new row's, and the statement returns the
    id of a row inserted or updated (none: a newer read is stored). `guarded`: instead, only
    where the stored `stripe_version` is still the one the writer saw (parameter
    `seen_stripe_version`), also returning the id (none: someone wrote the row meanwhile).
    `returning=False`: no ids returned (an executemany the caller checks otherwise)."""
    dialect = session.get_bind().dialect.name
    key = (dialect, table.name, columns, versioned, guarded, returning)
    statement = _STATEMENTS.get(key)
    if statement is None:
        insert = dialect_insert(session, table)
        where: ColumnElement[bool] | None = None
        if guarded:
            where = table.c.stripe_version.is_not_distinct_from(bindparam(SEEN_VERSION))
        elif versioned:
            where = or_(table.c.stripe_version.is_(None), table.c.stripe_version <= insert.excluded.stripe_version)
        statement = insert.on_conflict_do_update(
            index_elements=[table.c.id],
            set_={name: insert.excluded[name] for name in columns if name != "id"},
            where=where,
        )
        if (versioned or guarded) and returning:
            statement = statement.returning(table.c.id)
        _STATEMENTS[key] = statement
    return statement
