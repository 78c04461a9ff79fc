"""What a writer of the mirror works with, in one transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from paywire.catalog import Catalog
from paywire.config import Settings
from paywire.db.membership import among
from paywire.db.models import Invoice, Subscription
from paywire.metrics import OUTBOX_FACTS
from paywire.mirror.payloads import Decision, Mark, Offer, decide
from paywire.mirror.reads import StripeReads
from paywire.outbox import Fact, KnownFacts, record
from paywire.stripe import Kind

# The objects whose stored states carry their version and times (the version and payload
# rules), and their tables.
STATE_TABLES: dict[Kind, Any] = {Kind.SUBSCRIPTION: Subscription, Kind.INVOICE: Invoice}
MarkKey = tuple[str, str]  # (table, id)


def mark_key(kind: Kind, object_id: str) -> MarkKey:
    return (STATE_TABLES[kind].__tablename__, object_id)


def load_marks(session: Session, kind: Kind, ids: Iterable[str]) -> dict[MarkKey, Mark | None]:
    """What is stored of these objects (None: no row), in one query."""
    model = STATE_TABLES[kind]
    wanted = sorted(set(ids))
    found: dict[MarkKey, Mark | None] = {mark_key(kind, i): None for i in wanted}
    if not wanted:
        return found
    query = select(
        model.id,
        model.stripe_version,
        model.stripe_time_from,
        model.stripe_time_to,
        model.stripe_event_id,
        model.stripe_object,
    ).where(among(session, model.id, wanted))
    for object_id, version, time_from, time_to, event_id, state in session.execute(query):
        found[mark_key(kind, object_id)] = Mark(version, time_from, time_to, event_id is not None, state)
    return found


@dataclass
class MirrorContext:
    """The transaction to write in (its owner commits), where reads come from, the catalog
    (plans from prices) and the settings. From the events worker also: when the last of the
    events being handled was received, the first one's id (recorded with the facts), the fact
    keys it knows are committed already, and what it found stored for the whole batch
    (`known_marks`, by table and id, read before the batch wrote: a write decided on one is
    made only if the row is still as seen, see `paywire.mirror.write`)."""

    session: Session
    reads: StripeReads
    catalog: Catalog
    settings: Settings
    received_at: datetime | None = None
    source_event_id: str | None = None
    known_facts: KnownFacts | None = None
    known_marks: dict[MarkKey, Mark | None] | None = None

    def stored_mark(self, kind: Kind, object_id: str) -> Mark | None:
        """What is stored of the object (None: no row), unlocked."""
        key = mark_key(kind, object_id)
        if self.known_marks is not None and key in self.known_marks:
            return self.known_marks[key]
        return self.mark_now(kind, object_id)

    def mark_now(self, kind: Kind, object_id: str) -> Mark | None:
        """What is stored of the object as this transaction sees it now (None: no row)."""
        return load_marks(self.session, kind, [object_id])[mark_key(kind, object_id)]

    def decide(self, kind: Kind, object_id: str, offer: Offer | None) -> tuple[Decision, Mark | None]:
        """What to do about the events being handled (`paywire.mirror.payloads.decide`), and
        the stored state it was decided on (a payload is written only over that one)."""
        mark = self.stored_mark(kind, object_id) if self.received_at is not None or offer is not None else None
        skew = self.settings.worker_clock_skew
        return decide(kind, mark, offer, received_at=self.received_at, clock_skew=skew), mark

    def record_facts(self, found: list[Fact]) -> list[str]:
        """Put facts in the outbox, in this transaction (one row per fact key)."""
        added = record(self.session, found, source_event_id=self.source_event_id, known=self.known_facts)
        for key in added:
            OUTBOX_FACTS.labels(kind=key.split(":", 1)[0]).inc()
        return added
