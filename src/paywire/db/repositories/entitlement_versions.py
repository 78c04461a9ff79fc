"""Queries for `entitlement_versions`: a user's version moves forward whenever what they may do
can have changed, in the transaction that changed it.

Every writer of a table an entitlement is read from calls `bump` once, naming whose
entitlement its write touches: users, or the users behind a Stripe customer, a subscription or
a test clock. Nothing is written then: the session collects the names, and just before it
commits one statement moves every named user's version forward, resolving the names with what
the transaction wrote, taking the users' rows in user order (two transactions never wait on
each other's rows in opposite orders) and returning the new versions. `written(session)`
hands those to the committing process, whose caches drop older entries before the commit.

On PostgreSQL the versions come from a sequence, taken once the row is locked, so a user's
versions grow in commit order; the same statement announces every `user_id:version` on the
`paywire_entitlements` channel (NOTIFY, delivered at commit) to the other processes. SQLite
writes one transaction at a time and takes the largest version + 1 under its write lock, so
versions grow in commit order across all users: a reader of `since(high_water)` misses none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import Connection, TextClause, event, func, select, text
from sqlalchemy.orm import Session, SessionTransaction

from paywire.db.models import ENTITLEMENT_VERSIONS_SEQUENCE, EntitlementVersion

CHANNEL = "paywire_entitlements"

# Whose versions a name moves, one SELECT of user ids per kind of name (only the kinds a
# transaction named are part of its statement).
_NAMED_SQLITE = {
    "users": "SELECT value AS user_id FROM json_each(:users)",
    "customers": "SELECT user_id FROM customers WHERE stripe_customer_id IN (SELECT value FROM json_each(:customers))",
    "subscriptions": "SELECT user_id FROM subscriptions WHERE id IN (SELECT value FROM json_each(:subscriptions))",
    "clocks": "SELECT user_id FROM customers WHERE test_clock_id IN (SELECT value FROM json_each(:clocks))",
}
_NAMED_POSTGRESQL = {
    "users": "SELECT unnest(CAST(:users AS text[])) AS user_id",
    "customers": "SELECT user_id FROM customers WHERE stripe_customer_id = ANY(CAST(:customers AS text[]))",
    "subscriptions": "SELECT user_id FROM subscriptions WHERE id = ANY(CAST(:subscriptions AS text[]))",
    "clocks": "SELECT user_id FROM customers WHERE test_clock_id = ANY(CAST(:clocks AS text[]))",
}
_SEQUENCE = ENTITLEMENT_VERSIONS_SEQUENCE.name


def _bump_sqlite(named: str) -> TextClause:
    return text(
        f"""
        INSERT INTO entitlement_versions (user_id, version)
        SELECT named.user_id, (SELECT coalesce(max(version), 0) + 1 FROM entitlement_versions)
        FROM ({named}) AS named
        WHERE named.user_id IS NOT NULL
        ON CONFLICT (user_id) DO UPDATE SET version = excluded.version
        RETURNING user_id, version
        """
    )


def _bump_postgresql(named: str) -> TextClause:
    return text(
        f"""
        WITH named AS ({named}), bumped AS (
            INSERT INTO entitlement_versions (user_id, version)
            SELECT user_id, nextval('{_SEQUENCE}') FROM named WHERE user_id IS NOT NULL ORDER BY user_id
            ON CONFLICT (user_id) DO UPDATE SET version = nextval('{_SEQUENCE}')
            RETURNING user_id, version
        )
        SELECT user_id, version, pg_notify('{CHANNEL}', user_id || ':' || version) FROM bumped
        """
    )


_STATEMENTS: dict[tuple[str, tuple[str, ...]], TextClause] = {}


def _statement(dialect: str, kinds: tuple[str, ...]) -> TextClause:
    """The bump of the users named by `kinds`, built once per database and kinds."""
    found = _STATEMENTS.get((dialect, kinds))
    if found is None:
        parts = _NAMED_POSTGRESQL if dialect == "postgresql" else _NAMED_SQLITE
        named = " UNION ".join(parts[kind] for kind in kinds)
        found = _bump_postgresql(named) if dialect == "postgresql" else _bump_sqlite(named)
        _STATEMENTS[(dialect, kinds)] = found
    return found


_PENDING = "paywire.entitlement_versions"


@dataclass
class _Pending:
    """What one transaction of a session changed: names still to resolve and bump, and the
    versions already written (at a savepoint's release, or at commit)."""

    transaction: SessionTransaction
    users: set[str] = field(default_factory=set)
    customers: set[str] = field(default_factory=set)
    subscriptions: set[str] = field(default_factory=set)
    clocks: set[str] = field(default_factory=set)
    written: dict[str, int] = field(default_factory=dict)

    def named(self) -> bool:
        return bool(self.users or self.customers or self.subscriptions or self.clocks)


def _pending(session: Session, *, create: bool = False) -> _Pending | None:
    """The record of the session's current transaction (a record left by an earlier one, rolled
    back or committed, is not this transaction's)."""
    transaction = session.get_transaction()
    found = session.info.get(_PENDING)
    if transaction is None:
        return None
    if isinstance(found, _Pending) and found.transaction is transaction:
        return found
    if not create:
        return None
    fresh = _Pending(transaction)
    session.info[_PENDING] = fresh
    return fresh


def bump(
    session: Session,
    *,
    user: str | None = None,
    customer: str | None = None,
    subscription: str | None = None,
    clock: str | None = None,
) -> None:
    """Move forward, when this transaction commits, the version of `user`, of the user linked
    to Stripe customer `customer`, of the user of `subscription`, of every user on test clock
    `clock` (names resolved at commit, with this transaction's writes)."""
    session.get_transaction() or session.begin()
    pending = _pending(session, create=True)
    assert pending is not None
    for value, names in (
        (user, pending.users),
        (customer, pending.customers),
        (subscription, pending.subscriptions),
        (clock, pending.clocks),
    ):
        if value:
            names.add(value)


def has_pending(session: Session) -> bool:
    """Whether the session's open transaction changed someone's entitlement (not committed yet)."""
    pending = _pending(session)
    return pending is not None and (pending.named() or bool(pending.written))


def written(session: Session) -> dict[str, int]:
    """The versions the session's open transaction has written (user → version): from a
    `before_commit` listener registered after this module's, everything it is committing."""
    pending = _pending(session)
    return dict(pending.written) if pending is not None else {}


def _write_pending(session: Session) -> None:
    """Before a commit (or a savepoint's release): the one statement for everything named."""
    pending = _pending(session)
    if pending is None or not pending.named():
        return
    dialect = session.get_bind().dialect.name
    names = {
        kind: sorted(values)
        for kind, values in (
            ("users", pending.users),
            ("customers", pending.customers),
            ("subscriptions", pending.subscriptions),
            ("clocks", pending.clocks),
        )
        if values
    }
    pending.users, pending.customers, pending.subscriptions, pending.clocks = set(), set(), set(), set()
    statement = _statement(dialect, tuple(names))
    if dialect == "postgresql":
        rows = session.execute(statement, names).all()
    else:
        rows = session.execute(statement, {kind: json.dumps(values) for kind, values in names.items()}).all()
    for row in rows:
        user_id, version = str(row[0]), int(row[1])
        pending.written[user_id] = max(version, pending.written.get(user_id, 0))


# Every session flushes its named users before it commits: a write and its version bump share
# one transaction whoever wrote it.
event.listen(Session, "before_commit", _write_pending)


def version_of(connection: Connection | Session, user_id: str) -> int:
    """The user's version (0: nothing of theirs ever changed)."""
    found = connection.scalar(select(EntitlementVersion.version).where(EntitlementVersion.user_id == user_id))
    return int(found or 0)


def latest(connection: Connection | Session) -> int:
    return int(connection.scalar(select(func.max(EntitlementVersion.version))) or 0)


def since(connection: Connection | Session, high_water: int) -> list[tuple[str, int]]:
    """Versions above `high_water`, lowest first (on SQLite, in commit order)."""
    rows = connection.execute(
        select(EntitlementVersion.user_id, EntitlementVersion.version)
        .where(EntitlementVersion.version > high_water)
        .order_by(EntitlementVersion.version)
    ).all()
    return [(str(user_id), int(version)) for user_id, version in rows]


def announcement(payload: str) -> tuple[str, int] | None:
    """`user_id:version` from the channel (a user id may hold colons itself)."""
    user_id, _, version = payload.rpartition(":")
    return (user_id, int(version)) if user_id and version.isdigit() else None
