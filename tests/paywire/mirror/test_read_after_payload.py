"""A read in flight while a payload is written, on a real database: the payload (an unpause's
first `customer.subscription.updated`, still `paused`) is written after the read started, so the
read loses under the version rule; it is made again and the mirror shows what Stripe holds,
not the payload that happened to be written last. The same for a `paywire sync` page."""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from paywire.catalog import Catalog
from paywire.config import Settings, load_settings
from paywire.db.repositories import subscriptions
from paywire.mirror import MirrorContext, bulk, read_version
from paywire.mirror import subscriptions as mirrored_subscriptions
from paywire.mirror.payloads import Offer
from paywire.mirror.reads import Snapshot, snapshot_of
from paywire.stripe import Kind
from tests.paywire.fixtures import stripe_example
from tests.support.stripesim import TEST_KEY


class Stripe:
    """Stripe as these writes ask it: the subscription as it stands now."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.asked: list[str] = []

    def read(self, kind: Kind, object_id: str) -> Snapshot:
        self.asked.append(f"read {object_id}")
        return snapshot_of(copy.deepcopy(self.state), read_version(), time.time())

    def again(self, kind: Kind, object_id: str) -> Snapshot:
        self.asked.append(f"again {object_id}")
        return snapshot_of(copy.deepcopy(self.state), read_version(), time.time())


def context(session: Session, catalog: Catalog, stripe: Stripe, received_at: datetime | None = None) -> MirrorContext:
    settings: Settings = load_settings(STRIPE_SECRET_KEY=TEST_KEY, _env_file=None)
    return MirrorContext(session, stripe, catalog, settings, received_at=received_at)


def states() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Paused; the unpause's first change (a new period, still paused); unpaused."""
    paused = stripe_example("subscription")
    paused.update(status="paused", test_clock=None, discounts=[], cancel_at_period_end=False)
    moved = copy.deepcopy(paused)
    for item in moved["items"]["data"]:
        item["current_period_start"] += 86_400
        item["current_period_end"] += 86_400
    active = {**copy.deepcopy(moved), "status": "active"}
    return paused, moved, active


def test_a_read_that_lost_to_a_payload_written_while_it_was_in_flight_is_made_again(
    session: Session, catalog: Catalog
) -> None:
    paused, moved, active = states()
    stripe = Stripe(active)
    mirrored_subscriptions.save(context(session, catalog, stripe), paused, read_version() - 10_000_000)
    session.commit()

    # The operation's read of the unpaused subscription starts...
    operation_read = snapshot_of(copy.deepcopy(active), read_version(), time.time())
    # ...while the worker applies the payload of the unpause's first event (later than the stored
    # read by Stripe's time: a new period), so it is written with a later version.
    worker = context(session, catalog, stripe, received_at=datetime.now(UTC))
    offer = Offer("evt_updated", int(time.time()) + 60, copy.deepcopy(moved))
    applied = mirrored_subscriptions.refresh(worker, moved["id"], offer)
    session.commit()
    assert applied is not None and applied.written and applied.state["status"] == "paused"
    assert stripe.asked == [], "the payload was applied, not read"

    kept = mirrored_subscriptions.save(
        context(session, catalog, stripe), operation_read.obj, operation_read.version, operation_read.times
    )
    session.commit()

    assert kept.written and kept.state["status"] == "active"
    assert stripe.asked == [f"again {active['id']}"]
    session.expire_all()
    row = subscriptions.find(session, active["id"])
    assert row is not None and row.status == "active"


def test_a_read_that_lost_to_a_later_read_is_not_made_again(session: Session, catalog: Catalog) -> None:
    paused, _moved, active = states()
    stripe = Stripe(active)
    older = read_version()
    mirrored_subscriptions.save(context(session, catalog, stripe), active, read_version())
    session.commit()

    kept = mirrored_subscriptions.save(context(session, catalog, stripe), paused, older)
    session.commit()

    assert not kept.written and kept.state["status"] == "active"
    assert stripe.asked == []


def test_a_sync_page_that_lost_to_a_payload_written_while_it_was_in_flight_reads_that_object_again(
    session: Session, catalog: Catalog
) -> None:
    paused, moved, active = states()
    other = {**copy.deepcopy(active), "id": "sub_other"}
    stripe = Stripe(active)
    mirrored_subscriptions.save(context(session, catalog, stripe), paused, read_version() - 10_000_000)
    session.commit()

    page = snapshot_of(copy.deepcopy(active), read_version(), time.time())  # the page's read starts
    worker = context(session, catalog, stripe, received_at=datetime.now(UTC))
    applied = mirrored_subscriptions.refresh(worker, moved["id"], Offer("evt_updated", int(time.time()) + 60, moved))
    session.commit()
    assert applied is not None and applied.written

    reads = [bulk.Read(page.obj, page.version, page.times), bulk.Read(other, page.version, page.times)]
    written = bulk.write_subscriptions(context(session, catalog, stripe), reads)
    session.commit()

    assert written == {active["id"], "sub_other"}
    assert stripe.asked == [f"again {active['id']}"], "only the object a payload kept is read again"
    session.expire_all()
    row = subscriptions.find(session, active["id"])
    assert row is not None and row.status == "active"
