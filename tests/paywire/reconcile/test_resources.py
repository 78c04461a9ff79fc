"""A page of subscriptions compared and repaired together (`Resource.check_page`,
`repair_page`): each object gets the drift and the action it would get one by one — added,
updated, or kept when a newer read was written between the comparison and the repair — and
the users are resolved for the whole page."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from paywire.catalog import Catalog
from paywire.config import Settings, load_settings
from paywire.db.models import OutboxFact, Subscription
from paywire.db.repositories import customers
from paywire.mirror import subscriptions as mirrored_subscriptions
from paywire.reconcile.drift import DIFFERENT, MISSING
from paywire.reconcile.resources import RESOURCES, Listed, SyncContext
from paywire.stripe import StripeGateway
from tests.paywire.mirror.test_bulk import NEW, OLD, TIMES, subscription
from tests.support.stripesim import TEST_KEY

AT = datetime(2027, 1, 1, tzinfo=UTC)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_settings(STRIPE_SECRET_KEY=TEST_KEY, DATABASE_URL=database_url, _env_file=None)


def test_a_page_is_repaired_and_reported_as_one_by_one(
    session_factory: sessionmaker[Session], gateway: StripeGateway, catalog: Catalog, settings: Settings
) -> None:
    ctx = SyncContext(session_factory, gateway, catalog, settings)
    resource = RESOURCES["subscriptions"]
    added, updated, raced = (
        subscription("sub_added", "cus_a", "active", metadata={"user_id": "u_a"}),
        subscription("sub_updated", "cus_b", "active", metadata={"user_id": "u_b"}),
        subscription("sub_raced", "cus_c", "active"),
    )
    with session_factory() as session:
        mirror = ctx.mirror(session)
        mirrored_subscriptions.save(mirror, {**updated, "status": "past_due"}, OLD, TIMES)
        mirrored_subscriptions.save(mirror, {**raced, "status": "past_due"}, OLD, TIMES)
        session.commit()
    page = [Listed(state, NEW, AT, TIMES) for state in (added, updated, raced)]
    with session_factory() as session:
        checked = resource.check_page(ctx, session, page)
    assert [(d.kind, d.object_id) for d in checked if d is not None] == [
        (MISSING, "sub_added"),
        (DIFFERENT, "sub_updated"),
        (DIFFERENT, "sub_raced"),
    ]
    with session_factory() as session:  # the worker writes a newer read of one of them meanwhile
        mirrored_subscriptions.save(ctx.mirror(session), {**raced, "status": "canceled"}, NEW + 1, TIMES)
        session.commit()

    with session_factory() as session:
        actions = resource.repair_page(ctx, session, [d for d in checked if d is not None])
        session.commit()

    assert actions == ["added", "updated", "kept: a newer read was written meanwhile"]
    with session_factory() as session:
        statuses = dict(session.execute(select(Subscription.id, Subscription.status)).all())
        facts = set(session.scalars(select(OutboxFact.dedup_key)))
    assert statuses == {"sub_added": "active", "sub_updated": "active", "sub_raced": "canceled"}
    assert {"access_granted:sub_added", "access_granted:sub_updated"} <= facts

    # The page's users are resolved together: a link made since shows as the row's new user.
    with session_factory() as session:
        customers.add_customer(session, user_id="u_linked", stripe_customer_id="cus_b", email=None)
        session.commit()
    with session_factory() as session:
        again = resource.check_page(ctx, session, page)
    assert again[0] is None and again[2] is None
    assert again[1] is not None and [str(c) for c in again[1].changes] == ["user_id u_b → u_linked"]
