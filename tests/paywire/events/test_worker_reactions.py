"""The worker's turn at reactions: a line of facts (a sync's, a storm's receipts, another
process's) is worked off a claim after another, not one claim per idle interval. On a real
database (SQLite, and PostgreSQL when configured); no server."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from paywire.catalog import Catalog
from paywire.config import load_settings
from paywire.events.worker import Worker, WorkerOptions
from paywire.outbox import ClaimedFact, Fact
from paywire.outbox import store as outbox
from paywire.reactions.registry import ReactionContext, Registry
from paywire.stripe import StripeGateway
from tests.paywire.conftest import AUTH_SECRET
from tests.support.stripesim import TEST_KEY

BATCH = 20


def test_a_line_of_facts_is_worked_off_claim_after_claim(
    session_factory: sessionmaker[Session], catalog: Catalog, database_url: str
) -> None:
    settings = load_settings(
        _env_file=None, STRIPE_SECRET_KEY=TEST_KEY, DATABASE_URL=database_url, PAYWIRE_AUTH_SECRET=AUTH_SECRET
    )
    reacted: list[str] = []

    def note(ctx: ReactionContext, fact: ClaimedFact) -> str:
        reacted.append(fact.dedup_key)
        return "noted"

    registry = Registry()
    registry.register("noted", "note", note)
    worker = Worker(
        sessions=session_factory,
        # Never called: the reaction here makes no request.
        gateway=StripeGateway(TEST_KEY, api_base="http://127.0.0.1:9", max_network_retries=0),
        catalog=catalog,
        settings=settings,
        options=WorkerOptions(reaction_batch_size=BATCH),
        reactions=registry,
    )
    # Recorded by another process (a sync): this worker was not told of them.
    with session_factory() as session:
        facts = [Fact("noted", f"noted:{n}", f"user_{n}", f"sub_{n}", {}) for n in range(5 * BATCH)]
        outbox.record(session, facts)
        session.commit()

    claims = [worker.react() for _ in range(6)]

    assert claims == [BATCH] * 5 + [0], "each full claim is followed at once by the next"
    assert sorted(reacted) == sorted(f.key for f in facts)
