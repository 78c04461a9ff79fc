"""The worker's single pass over captured events: stored in the inbox, claimed, applied by
`BatchProcessor.process` with Stripe faked at the gateway, and marked."""

from __future__ import annotations

import json
from typing import cast

import pytest
from sqlalchemy.orm import Session, sessionmaker

from paywire.db.leases import RetryPolicy
from paywire.db.models import WebhookEvent
from paywire.events.batch import BatchProcessor
from paywire.events.inbox import claim_batch, group_by_object
from paywire.events.store import new_event, store
from paywire.stripe import Kind, StripeGateway
from tests.paywire.events.handlers.harness import EventFixture, Handling

WORKER = "worker_fixture_pass"


@pytest.fixture
def processor(session_factory: sessionmaker[Session], handling: Handling) -> BatchProcessor:
    return BatchProcessor(
        sessions=session_factory,
        gateway=cast(StripeGateway, handling.stripe),
        catalog=handling.catalog,
        settings=handling.settings,
        worker_id=WORKER,
        retry=RetryPolicy(),
        lease_seconds=30,
        reread_threads=1,
    )


def one_pass(session: Session, processor: BatchProcessor, *fixtures: EventFixture) -> dict[str, str]:
    """Store the fixtures' events as the receiver does, claim them, process once: the states."""
    for fixture in fixtures:
        store(session, new_event(json.dumps(fixture.event), fixture.event, expected_livemode=False))
    session.commit()
    claimed = claim_batch(session, worker_id=WORKER, limit=10, lease_seconds=30)
    outcomes = processor.process(group_by_object(claimed))
    return {event_id: outcome.state for event_id, outcome in outcomes.items()}


def inbox_states(session: Session) -> dict[str, tuple[str, int]]:
    session.expire_all()
    return {row.id: (row.state, row.attempts) for row in session.query(WebhookEvent)}


def test_one_pass_applies_a_batch_and_marks_each_event_processed(
    handling: Handling, processor: BatchProcessor, session: Session
) -> None:
    failed = handling.load("invoice.payment_failed")
    completed = handling.load("checkout.session.completed")
    dispute = handling.load("charge.dispute.created")
    handling.link(failed.object["customer"], "user_renewal")
    handling.link(completed.object["customer"], "user_buyer")

    states = one_pass(session, processor, failed, completed, dispute)

    events = (failed.event["id"], completed.event["id"], dispute.event["id"])
    assert states == dict.fromkeys(events, "processed")
    assert inbox_states(session) == dict.fromkeys(events, ("processed", 1))
    subscription_id = completed.object["subscription"]
    assert sorted(handling.fact_keys()) == [
        f"access_granted:{subscription_id}",
        f"dispute_opened:{dispute.object_id}",
        f"payment_failed:{failed.object_id}:1",
    ]
    assert handling.subscription(subscription_id).status == "active"
    assert all(count == 1 for count in handling.stripe.calls.values()), "each object read once, ahead"


def test_a_group_whose_read_fails_is_retried_alone_and_the_rest_applied(
    handling: Handling, processor: BatchProcessor, session: Session
) -> None:
    paid = handling.load("invoice.paid")
    created = handling.load("customer.subscription.created")
    handling.stripe.down.add(created.object_id)
    # Re-reads only: with the payload rule, the subscription's own payload needs no read at all.
    processor.settings = handling.settings.model_copy(update={"apply_event_payloads": False})

    states = one_pass(session, processor, paid, created)

    assert states == {paid.event["id"]: "processed", created.event["id"]: "failed"}
    assert inbox_states(session)[created.event["id"]] == ("failed", 1)
    assert handling.invoice(paid.object_id).status == "paid"
    assert handling.stripe.calls[(Kind.INVOICE.value, paid.object_id)] == 1, "not read again when redone alone"


def test_a_checkouts_subscription_the_mirror_holds_active_is_not_read_ahead(
    handling: Handling, processor: BatchProcessor, session: Session
) -> None:
    completed = handling.load("checkout.session.completed")
    handling.link(completed.object["customer"], "user_buyer")
    subscription_id = completed.object["subscription"]
    handling.store_newer(Kind.SUBSCRIPTION, completed.held(Kind.SUBSCRIPTION))

    assert one_pass(session, processor, completed) == {completed.event["id"]: "processed"}

    assert handling.stripe.calls == {}, "neither the subscription nor the session read"
    assert handling.subscription(subscription_id).status == "active"


def test_a_checkout_claimed_with_its_subscriptions_own_events_costs_no_read(
    handling: Handling, processor: BatchProcessor, session: Session
) -> None:
    """One batch: the subscription's own events (created `incomplete`, updated `active`, one
    second) write their payload first, and the checkout, finding it active, reads nothing."""
    completed = handling.load("checkout.session.completed")
    handling.link(completed.object["customer"], "user_buyer")
    active = completed.held(Kind.SUBSCRIPTION)
    created = completed.event["created"]
    events = [
        {
            **completed.event,
            "id": f"evt_subscription_{n}",
            "type": event_type,
            "created": created,
            "data": {"object": {**active, "status": status}},
        }
        for n, (event_type, status) in enumerate(
            (("customer.subscription.created", "incomplete"), ("customer.subscription.updated", "active"))
        )
    ]
    # The checkout's event is stored first: the subscription's own group still goes first.
    for event in (completed.event, *events):
        store(session, new_event(json.dumps(event), event, expected_livemode=False))
    session.commit()
    claimed = claim_batch(session, worker_id=WORKER, limit=10, lease_seconds=30)
    outcomes = processor.process(group_by_object(claimed))

    assert {outcome.state for outcome in outcomes.values()} == {"processed"} and len(outcomes) == 3
    assert handling.stripe.calls == {}, "no read: the batch's own payloads said it all"
    assert handling.subscription(active["id"]).status == "active"
    assert outcomes[completed.event["id"]].note.endswith("mirrored from its own events, not re-read")
