"""INSERT … ON CONFLICT on both supported databases.

Racing writers of one row (an API call and the worker mirroring the same Stripe object) must
not fail on the unique key: the first insert wins, the others find the row and update it.

The worker's upserts (`upsert_statement`) are built once per table, columns and database and
executed with parameters: building and compiling an `ON CONFLICT DO UPDATE` over a few dozen
columns costs more CPU than the database takes to run it.

A page of rows (a sync writes a hundred objects at once) goes to PostgreSQL as one JSON array
in one short statement (`page_statement`): an executemany is a statement per row, and a
multi-row VALUES is a long statement psycopg parses again on every call.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, ColumnElement, Table, bindparam, func, literal_column, or_, select
from sqlalchemy.dialects.postgresql import JSON as PG_JSON
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from paywire.db.engine import on_postgresql


def insert_ignoring_duplicates(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    """Rows (the same columns) inserted, those whose key is there already left out: one
    `page_statement` (a statement built once, not rows inlined into VALUES and compiled anew
    each call: a sync adds a page of ids per transaction)."""
    if rows:
        table = cast(Table, getattr(model, "__table__", model))
        statement = page_statement(session, table, tuple(rows[0]), "ignoring duplicates", _ignoring_duplicates)
        session.execute(statement, page_params(session, table, rows))


def dialect_insert(session: Session, model: Any) -> Any:
    """The database's own INSERT construct (with `on_conflict_do_nothing/update`)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return pg_insert(model)
    if dialect == "sqlite":
        return sqlite_insert(model)
    raise NotImplementedError(f"paywire does not support {dialect}")  # pragma: no cover


_STATEMENTS: dict[tuple[str, str, tuple[str, ...], bool, bool], Any] = {}
# The parameter of a guarded upsert: the `stripe_version` the writer saw stored (None: no row).
SEEN_VERSION = "seen_stripe_version"


def upsert_statement(
    session: Session,
    table: Table,
    columns: tuple[str, ...],
    *,
    versioned: bool,
    guarded: bool = False,
) -> Any:
    """`INSERT (columns) … ON CONFLICT (id) DO UPDATE SET every other column`, to execute with
    a row (or rows) of parameters. `versioned`: the update happens only where the stored
    `stripe_version` is unset or not newer than the new row's, and the statement returns the
    id of a row inserted or updated (none: a newer read is stored). `guarded`: instead, only
    where the stored `stripe_version` is still the one the writer saw (parameter
    `seen_stripe_version`), also returning the id (none: someone wrote the row meanwhile)."""
    dialect = session.get_bind().dialect.name
    key = (dialect, table.name, columns, versioned, guarded)
    statement = _STATEMENTS.get(key)
    if statement is None:
        insert = dialect_insert(session, table)
        where: ColumnElement[bool] | None = None
        if guarded:
            where = table.c.stripe_version.is_not_distinct_from(bindparam(SEEN_VERSION))
        elif versioned:
            where = _not_newer_stored(insert, table)
        statement = _updating_on_conflict(insert, table, columns, where)
        if versioned or guarded:
            statement = statement.returning(table.c.id)
        _STATEMENTS[key] = statement
    return statement


def _not_newer_stored(insert: Any, table: Table) -> ColumnElement[bool]:
    """The version rule: a stored row is replaced unless it holds a newer read."""
    return or_(table.c.stripe_version.is_(None), table.c.stripe_version <= insert.excluded.stripe_version)


def _updating_on_conflict(insert: Any, table: Table, columns: tuple[str, ...], where: Any = None) -> Any:
    return insert.on_conflict_do_update(
        index_elements=[table.c.id], set_={name: insert.excluded[name] for name in columns if name != "id"}, where=where
    )


def _ignoring_duplicates(insert: Any) -> Any:
    return insert.on_conflict_do_nothing()


_PAGE_STATEMENTS: dict[tuple[str, str, str, tuple[str, ...]], Any] = {}
ROWS = "rows"


def page_statement(session: Session, table: Table, columns: tuple[str, ...], purpose: str, finish: Any) -> Any:
    """An INSERT of a page of rows (these columns), finished by `finish(insert)` (its ON
    CONFLICT, its RETURNING), built once per database, purpose, table and columns; executed
    with `page_params`. SQLite: `INSERT … VALUES`, an executemany. PostgreSQL: `INSERT INTO
    table (columns) SELECT columns FROM json_populate_recordset(NULL::table, :rows)`, the rows
    as one JSON array that the server turns back into the table's rows (a JSON column's value
    kept as written): one short statement, parsed and planned once per connection, instead of a
    statement per row (an executemany) or every row inlined into one long statement that the
    driver parses anew on each call (it caches no statement of over 50 parameters)."""
    key = (session.get_bind().dialect.name, purpose, table.name, columns)
    statement = _PAGE_STATEMENTS.get(key)
    if statement is None:
        if on_postgresql(session):
            records = func.json_populate_recordset(
                literal_column(f"NULL::{session.get_bind().dialect.identifier_preparer.format_table(table)}"),
                bindparam(ROWS, type_=PG_JSON),
            ).table_valued(*columns)
            insert = pg_insert(table).from_select(list(columns), select(*(records.c[name] for name in columns)))
        else:
            insert = dialect_insert(session, table)
        statement = finish(insert)
        _PAGE_STATEMENTS[key] = statement
    return statement


def page_params(session: Session, table: Table, rows: list[dict[str, Any]]) -> Any:
    """The parameters of a `page_statement`: the rows themselves (SQLite), or (PostgreSQL) the
    one JSON array, each value as its column's type binds it, a time as ISO 8601 text, a JSON
    column's value as it is (it goes into the array whole)."""
    if not on_postgresql(session):
        return rows
    dialect = session.get_bind().dialect
    columns = []
    for name in rows[0]:
        column_type = table.c[name].type
        if not isinstance(column_type, JSON):
            columns.append((name, column_type.bind_processor(dialect)))
    bound = []
    for row in rows:
        row = dict(row)
        for name, processor in columns:
            value = row[name] if processor is None else processor(row[name])
            row[name] = value.isoformat() if isinstance(value, datetime) else value
        bound.append(row)
    return {ROWS: bound}


def upsert_versioned_page(session: Session, table: Table, rows: list[dict[str, Any]]) -> set[str]:
    """Rows (distinct ids, the same columns) upserted under the version rule in one
    `page_statement`; the ids written (the others hold a newer read)."""
    columns = tuple(rows[0])

    def finish(insert: Any) -> Any:
        return _updating_on_conflict(insert, table, columns, _not_newer_stored(insert, table)).returning(table.c.id)

    statement = page_statement(session, table, columns, "upsert versioned", finish)
    return set(session.scalars(statement, page_params(session, table, rows)))


def upsert_page(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Rows (distinct ids, the same columns) inserted or, where the id is there, updated: one
    `page_statement`."""
    if rows:
        columns = tuple(rows[0])
        statement = page_statement(
            session, table, columns, "upsert", lambda insert: _updating_on_conflict(insert, table, columns)
        )
        session.execute(statement, page_params(session, table, rows))


def insert_page(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    """Rows (the same columns) inserted: one `page_statement`."""
    if rows:
        table = cast(Table, getattr(model, "__table__", model))
        statement = page_statement(session, table, tuple(rows[0]), "insert", lambda insert: insert)
        session.execute(statement, page_params(session, table, rows))
