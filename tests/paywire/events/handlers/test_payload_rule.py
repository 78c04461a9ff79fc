"""The payload rule (`paywire.mirror.payloads`) at the handlers: an event's own payload is
written when it is provably the newest state of its object, without asking Stripe; the mirror
never goes back to an older payload; anything uncertain is re-read."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from paywire.catalog import Catalog
from paywire.config import Settings, load_settings
from paywire.db.models import Invoice, Subscription
from paywire.mirror import subscriptions as mirrored_subscriptions
from paywire.mirror.customers import user_for
from paywire.mirror.versions import read_version
from paywire.stripe import Kind
from paywire.stripe.ids import id_of
from tests.paywire.events.handlers.harness import EventFixture, Handling
from tests.support.stripesim import TEST_KEY


def at(event: dict[str, Any], created: int, event_id: str, **changes: Any) -> dict[str, Any]:
    """A copy of `event` made at `created`, its object changed by `changes` (dotted paths)."""
    copied = copy.deepcopy(event)
    copied["id"], copied["created"] = event_id, created
    for path, value in changes.items():
        node = copied["data"]["object"]
        *parents, last = path.split(".")
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[last] = value
    return copied


def seats(event: dict[str, Any], quantity: int, created: int, event_id: str) -> dict[str, Any]:
    changed = at(event, created, event_id)
    changed["data"]["object"]["items"]["data"][0]["quantity"] = quantity
    return changed


def store_read(handling: Handling, fresh: dict[str, Any], stands_at: int) -> None:
    """A read of `fresh` stored by another writer, made while its test clock stood at `stands_at`."""
    plan, interval = handling.catalog.plan_of_subscription(fresh)
    user_id = user_for(handling.session, id_of(fresh.get("customer")), fresh)
    mirrored_subscriptions.write(
        handling.session,
        fresh,
        user_id=user_id,
        plan=plan,
        interval=interval,
        version=read_version(),
        time_from=stands_at,
        time_to=stands_at,
    )
    handling.session.commit()


def quantity(handling: Handling, subscription_id: str) -> int:
    row = handling.mirrored(Subscription, subscription_id)
    assert row is not None
    return row.quantity


def test_the_newest_payload_is_written_without_a_read(handling: Handling) -> None:
    fixture = handling.load("customer.subscription.updated")
    created = fixture.event["created"]
    store_read(handling, fixture.held(Kind.SUBSCRIPTION), stands_at=created - 3600)

    [note] = handling.handle(seats(fixture.event, 7, created, "evt_seven_seats"), payload_rule=True)

    assert handling.stripe.reads == 0
    assert note.endswith("from evt_seven_seats's payload")
    row = handling.mirrored(Subscription, fixture.object_id)
    assert row is not None and (row.quantity, row.stripe_event_id) == (7, "evt_seven_seats")
    assert (row.stripe_time_from, row.stripe_time_to) == (created, created)


def test_an_older_payload_arriving_after_a_newer_one_is_not_applied(handling: Handling) -> None:
    fixture = handling.load("customer.subscription.updated")
    created = fixture.event["created"]
    newer = seats(fixture.event, 7, created + 60, "evt_newer")
    older = seats(fixture.event, 4, created, "evt_older")

    handling.handle(newer, payload_rule=True)
    [note] = handling.handle(older, payload_rule=True)

    assert quantity(handling, fixture.object_id) == 7, "the late, older payload left the newer state alone"
    assert note.endswith("the mirror holds a newer state than these events show, not re-read")
    assert handling.stripe.reads == 0, "an event the mirror provably holds costs no read"


def test_of_events_handled_together_the_newest_payload_wins_whatever_their_order(handling: Handling) -> None:
    fixture = handling.load("customer.subscription.updated")
    created = fixture.event["created"]

    handling.handle(
        seats(fixture.event, 9, created + 2, "evt_third"),
        seats(fixture.event, 3, created, "evt_first"),
        seats(fixture.event, 6, created + 1, "evt_second"),
        payload_rule=True,
    )

    assert quantity(handling, fixture.object_id) == 9
    assert handling.stripe.reads == 0


def test_different_states_of_one_second_are_re_read(handling: Handling) -> None:
    fixture = handling.load("customer.subscription.updated")
    created = fixture.event["created"]

    [note] = handling.handle(
        seats(fixture.event, 2, created, "evt_two"), seats(fixture.event, 8, created, "evt_eight"), payload_rule=True
    )

    assert handling.stripe.reads == 1, "neither is provably the newer: Stripe says"
    assert quantity(handling, fixture.object_id) == 5, "Stripe's state (5 seats), not either payload"
    assert "payload" not in note


def test_a_payload_of_the_second_a_stored_read_stands_at_is_re_read(handling: Handling) -> None:
    fixture = handling.load("customer.subscription.updated")
    created = fixture.event["created"]
    store_read(handling, fixture.held(Kind.SUBSCRIPTION), stands_at=created)

    handling.handle(seats(fixture.event, 2, created, "evt_same_second"), payload_rule=True)

    assert handling.stripe.reads == 1
    assert quantity(handling, fixture.object_id) == 5


def test_a_payload_older_than_a_stored_read_changes_nothing(handling: Handling) -> None:
    fixture = handling.load("customer.subscription.updated")
    created = fixture.event["created"]
    store_read(handling, fixture.held(Kind.SUBSCRIPTION), stands_at=created + 10)

    handling.handle(seats(fixture.event, 2, created, "evt_before_the_read"), payload_rule=True)

    assert handling.stripe.reads == 0
    assert quantity(handling, fixture.object_id) == 5


def test_a_subscription_with_discounts_is_re_read(handling: Handling) -> None:
    fixture = handling.load("customer.subscription.updated")
    discounted = at(fixture.event, fixture.event["created"], "evt_discounted", discounts=["di_1"])

    handling.handle(discounted, payload_rule=True)

    assert handling.stripe.reads == 1, "the mirror keeps the coupons, which the payload names by id only"


def test_an_invoice_further_along_is_the_newer_one_within_a_second(handling: Handling) -> None:
    paid = handling.load("invoice.paid")
    created = paid.event["created"]
    open_ = at(
        paid.event,
        created,
        "evt_finalized",
        status="open",
        amount_paid=0,
        **{"status_transitions.paid_at": None},
    )
    open_["type"] = "invoice.finalized"

    handling.handle(open_, paid.event, payload_rule=True)
    read = ("invoice", paid.object_id)
    assert handling.stripe.calls[read] == 0
    row = handling.mirrored(Invoice, paid.object_id)
    assert row is not None and row.status == "paid"

    # The finalization delivered again, late: same second, but behind the stored state.
    handling.handle(at(open_, created, "evt_finalized_again"), payload_rule=True)
    assert handling.stripe.calls[read] == 0
    row = handling.mirrored(Invoice, paid.object_id)
    assert row is not None and row.status == "paid"


def test_a_subscription_past_incomplete_is_the_newer_one_within_a_second(handling: Handling) -> None:
    """Checkout creates a subscription `incomplete` and pays its first invoice within the same
    second: `incomplete` is only ever a first status, so the active one is the newer."""
    fixture = handling.load("customer.subscription.updated")
    created = fixture.event["created"]
    started = at(fixture.event, created, "evt_created", status="incomplete")
    started["type"] = "customer.subscription.created"
    active = at(fixture.event, created, "evt_active", status="active")

    handling.handle(active, started, payload_rule=True)
    assert handling.stripe.reads == 0
    row = handling.mirrored(Subscription, fixture.object_id)
    assert row is not None and (row.status, row.stripe_event_id) == ("active", "evt_active")

    # The creation delivered again, late: same second, but behind the stored state.
    handling.handle(at(started, created, "evt_created_again"), payload_rule=True)
    assert handling.stripe.reads == 0
    row = handling.mirrored(Subscription, fixture.object_id)
    assert row is not None and row.status == "active"

    # Two states past `incomplete` in one second are still Stripe's to say.
    handling.handle(at(active, created, "evt_past_due", status="past_due"), payload_rule=True)
    assert handling.stripe.reads == 1


def test_a_deleted_drafts_payload_is_never_applied(handling: Handling) -> None:
    deleted = handling.load("invoice.deleted")

    handling.handle(deleted.event, payload_rule=True)

    assert handling.stripe.reads == 1
    assert handling.mirrored(Invoice, deleted.object_id) is None


@pytest.fixture
def rule_off(database_url: str, catalog: Catalog, handling: Handling) -> Handling:
    settings: Settings = load_settings(
        STRIPE_SECRET_KEY=TEST_KEY, DATABASE_URL=database_url, PAYWIRE_APPLY_EVENT_PAYLOADS=False, _env_file=None
    )
    handling.settings = settings
    return handling


def test_with_the_rule_off_every_group_is_re_read(rule_off: Handling) -> None:
    fixture = rule_off.load("customer.subscription.updated")

    rule_off.handle(seats(fixture.event, 7, fixture.event["created"], "evt_off"), payload_rule=True)

    assert rule_off.stripe.reads == 1
    assert quantity(rule_off, fixture.object_id) == 5


def test_the_fixtures_are_what_the_rule_sees_from_stripesim() -> None:
    """The events above are Stripe's shapes: whole objects the mirror could keep."""
    for event_type in ("customer.subscription.updated", "invoice.paid"):
        event = EventFixture.load(event_type).event
        assert isinstance(event["created"], int) and event["data"]["object"]["object"] in ("subscription", "invoice")
