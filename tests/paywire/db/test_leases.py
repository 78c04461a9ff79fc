"""Claims under a lease take at most their limit, oldest first, and two claims in turn take
different rows: the outbox's facts and the usage events, on a real database (SQLite, and
PostgreSQL when configured, where a `LIMIT … FOR UPDATE SKIP LOCKED` subquery rescanned per
updated row once claimed every due row)."""

from __future__ import annotations

import time

from sqlalchemy.orm import Session, sessionmaker

from paywire.db.models import utcnow
from paywire.outbox import Fact
from paywire.outbox import store as outbox
from paywire.usage import store as usage

DUE = 50
LIMIT = 20


def test_an_outbox_claim_takes_its_limit_and_the_next_the_next_ones(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        outbox.record(session, [Fact("noted", f"noted:{n}", f"user_{n}", f"sub_{n}", {}) for n in range(DUE)])
        session.commit()

    claims = []
    for worker in ("w1", "w2", "w3"):
        with session_factory() as session:
            claims.append([f.dedup_key for f in outbox.claim(session, worker_id=worker, limit=LIMIT, lease_seconds=60)])

    assert [len(c) for c in claims] == [LIMIT, LIMIT, DUE - 2 * LIMIT]
    assert claims[0] == [f"noted:{n}" for n in range(LIMIT)], "oldest first"
    assert len({key for claim in claims for key in claim}) == DUE, "no fact claimed twice"


def test_a_usage_claim_takes_its_limit_and_the_next_the_next_ones(session_factory: sessionmaker[Session]) -> None:
    now = int(time.time())
    events = [usage.NewUsage(f"call-{n}", "user_1", "cus_1", "api_calls", 1, now) for n in range(DUE)]
    with session_factory() as session:
        usage.store(session.connection(), events, now=utcnow())
        session.commit()

    claims = []
    for worker in ("s1", "s2", "s3"):
        with session_factory() as session:
            claimed = usage.claim(session, state="pending", worker_id=worker, limit=LIMIT, lease_seconds=60)
            claims.append([row.identifier for row in claimed])

    assert [len(c) for c in claims] == [LIMIT, LIMIT, DUE - 2 * LIMIT]
    assert claims[0] == [f"call-{n}" for n in range(LIMIT)], "oldest first"
    assert len({i for claim in claims for i in claim}) == DUE, "no event claimed twice"
