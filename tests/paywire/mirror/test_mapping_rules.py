"""Handlers' mapping rules, through stripesim: whose subscription it is, which plan it is,
customer details followed, and the version rule that keeps a newer read."""

from __future__ import annotations

from typing import Any

import pytest

from paywire.catalog import Catalog
from paywire.db.repositories import customers, subscriptions
from paywire.mirror import LiveReads, MirrorContext, read_version
from paywire.mirror import subscriptions as mirrored_subscriptions
from paywire.stripe import Kind, StripeGateway
from tests.paywire.conftest import Service
from tests.paywire.events.conftest import event_payload, inbox_rows, post_webhook, secret_of, sign, wait_for
from tests.support.stripesim import Sim


def mirrored(service: Service, subscription_id: str) -> subscriptions.Subscription | None:
    with service.sessions() as session:
        return subscriptions.find(session, subscription_id)


def stripe_subscription(sim: Sim, price: str, **params: Any) -> str:
    """A subscription made outside paywire (no `customers` row): incomplete, as nothing pays."""
    client = sim.client()
    customer = client.v1.customers.create(params={"email": "outside@example.com"})
    created = client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": price}],
            "payment_behavior": "default_incomplete",
            **params,
        }
    )
    return str(created.id)


def pro_month_price(sim: Sim) -> Any:
    [price] = sim.client().v1.prices.list(params={"lookup_keys": ["pro_month"]}).data
    return price


def test_a_subscription_is_tied_to_its_user_by_metadata_when_no_customer_row_exists(
    paywire_service: Service, sim: Sim
) -> None:
    subscription_id = stripe_subscription(sim, pro_month_price(sim).id, metadata={"user_id": "user_from_metadata"})

    row = wait_for("the subscription mirrored", lambda: mirrored(paywire_service, subscription_id))

    assert (row.user_id, row.plan, row.interval, row.status) == ("user_from_metadata", "pro", "month", "incomplete")


def test_a_price_that_lost_its_lookup_key_still_names_its_plan(paywire_service: Service, sim: Sim) -> None:
    # An older pro price: the lookup key moved to a newer price, existing subscribers stay on it.
    legacy = sim.client().v1.prices.create(
        params={
            "product": pro_month_price(sim).product,
            "unit_amount": 900,
            "currency": "usd",
            "recurring": {"interval": "month"},
        }
    )
    subscription_id = stripe_subscription(sim, legacy.id)

    row = wait_for("the subscription mirrored", lambda: mirrored(paywire_service, subscription_id))

    assert (row.plan, row.interval, row.user_id) == ("pro", "month", None)


def test_plan_of_knows_nothing_of_prices_outside_the_catalog(catalog: Catalog) -> None:
    foreign = {
        "items": {
            "data": [{"price": {"lookup_key": "other_month", "product": "prod_x", "recurring": {"interval": "month"}}}]
        }
    }
    assert catalog.plan_of_subscription(foreign) == (None, None)
    assert catalog.plan_of_subscription({"items": {"data": []}}) == (None, None)


def test_customer_updates_follow_the_linked_users_email(
    paywire_service: Service, sim: Sim, gateway: StripeGateway
) -> None:
    from paywire.billing.customers import get_or_create_customer

    with paywire_service.sessions() as session:
        linked = get_or_create_customer(session, gateway, user_id="user_email", email="old@example.com")
    sim.client().v1.customers.update(linked.stripe_customer_id, params={"email": "new@example.com"})

    def email() -> str | None:
        with paywire_service.sessions() as session:
            row = customers.find_by_user(session, "user_email")
            return row.email if row is not None and row.email == "new@example.com" else None

    assert wait_for("the new email mirrored", email) == "new@example.com"


@pytest.mark.parametrize("order", ["newer_first", "older_first"])
def test_an_older_read_never_overwrites_a_newer_one(
    paywire_service: Service, sim: Sim, catalog: Catalog, gateway: StripeGateway, order: str
) -> None:
    subscription_id = stripe_subscription(sim, pro_month_price(sim).id)
    wait_for("the subscription mirrored", lambda: mirrored(paywire_service, subscription_id))
    older_version = read_version()
    older = gateway.retrieve(Kind.SUBSCRIPTION, subscription_id)
    sim.client().v1.subscriptions.update(subscription_id, params={"metadata": {"changed": "yes"}})
    newer_version = read_version()
    newer = gateway.retrieve(Kind.SUBSCRIPTION, subscription_id)
    writes = [(newer, newer_version), (older, older_version)]
    if order == "older_first":
        writes.reverse()

    with paywire_service.sessions() as session:
        context = MirrorContext(session, LiveReads(gateway), catalog, paywire_service.settings)
        for snapshot, version in writes:
            mirrored_subscriptions.save(context, snapshot, version)
            session.commit()

    # Events from the update may still be arriving: whatever they write is at least as new.
    row = mirrored(paywire_service, subscription_id)
    assert row is not None
    assert row.stripe_object["metadata"] == {"changed": "yes"}
    assert row.stripe_version is not None and row.stripe_version >= newer_version


def test_an_event_about_an_object_stripe_does_not_know_is_done_not_retried(paywire_service: Service) -> None:
    payload = event_payload(
        "evt_unknown_sub",
        "customer.subscription.updated",
        data={"object": {"id": "sub_not_in_this_account", "object": "subscription", "status": "active"}},
    )
    assert post_webhook(paywire_service, payload, sign(payload, secret_of(paywire_service))).status_code == 200

    [row] = wait_for(
        "the event worked off", lambda: inbox_rows(paywire_service, id="evt_unknown_sub", state="processed")
    )

    assert row.attempts == 1
    assert mirrored(paywire_service, "sub_not_in_this_account") is None, "the event's snapshot alone is never mirrored"
