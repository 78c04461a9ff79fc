"""The version rule, in the write itself: one upsert statement per row.

`INSERT … ON CONFLICT (id) DO UPDATE … WHERE the stored stripe_version is unset or not newer`
inserts, overwrites an older read, or leaves a newer one; the conflicting row is locked by
the statement, so a racing writer of the same object waits for this transaction. A payload's
state (`paywire.mirror.payloads`) is written `WHERE the stored stripe_version is still the one
its decision saw` instead: a writer in between makes it decide again. SQLAlchemy Core, no ORM
objects: the worker writes many rows a second, and the ORM's unit of work cost more than the
statement.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from paywire.db.models import utcnow
from paywire.db.upsert import SEEN_VERSION, upsert_statement
from paywire.mirror.payloads import Mark, Times


def state_marks(*, version: int, times: Times, event_id: str | None) -> dict[str, Any]:
    """What every stored state carries beside its fields, for the version and payload rules:
    when it was written, the read it is (or None for a payload), where it stands in its
    object's time, and the event whose payload it is."""
    return {
        "synced_at": utcnow(),
        "stripe_version": version,
        "stripe_time_from": times[0],
        "stripe_time_to": times[1],
        "stripe_event_id": event_id,
    }


def expire_loaded(session: Session, model: Any, ids: Iterable[str]) -> None:
    """Expire the ORM objects of these rows the session holds: the next access reads what a
    Core write stored."""
    for object_id in ids:
        loaded = session.identity_map.get(identity_key(model, object_id))
        if loaded is not None:
            session.expire(loaded)


def write_versioned(session: Session, model: Any, values: dict[str, Any]) -> bool:
    """Write one row read at `values["stripe_version"]`; True if written, False if a newer
    read is stored. ORM objects of the row the session holds are expired, so the next access
    reads what is stored."""
    statement = upsert_statement(session, cast(Table, model.__table__), tuple(values), versioned=True)
    return _write(session, model, statement, values)


def write_seen(session: Session, model: Any, values: dict[str, Any], seen: Mark | None) -> bool:
    """Write a payload's state, decided on what was stored (`seen`, None: no row; the payload
    rule, `paywire.mirror.payloads`): only if the row is still the one seen, or still absent.
    False: someone wrote it meanwhile, decide again."""
    statement = upsert_statement(session, cast(Table, model.__table__), tuple(values), versioned=False, guarded=True)
    return _write(session, model, statement, {**values, SEEN_VERSION: seen.version if seen is not None else None})


def _write(session: Session, model: Any, statement: Any, values: dict[str, Any]) -> bool:
    session.flush()  # pending ORM changes first, so they cannot overwrite this write later
    written = session.execute(statement, values).first()
    expire_loaded(session, model, [values["id"]])
    return written is not None
