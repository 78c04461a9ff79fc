"""The payload rule in the worker, through stripesim: a renewal on a test clock (the first of the
month's storm, one subscriber of it) reaches the mirror without a single re-read of the
subscription or its invoice, and the mirror equals Stripe; with the rule off, the same
renewal is re-read."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from paywire.billing.customers import get_or_create_customer
from paywire.catalog import Catalog
from paywire.db.models import OutboxFact
from paywire.metrics import WEBHOOK_PAYLOADS_APPLIED
from paywire.stripe import StripeGateway
from tests.paywire.conftest import Service
from tests.paywire.events.conftest import CountingGateway, deliveries_settled, inbox_rows, wait_for
from tests.paywire.events.scenario import Activity, mirror_differences, subscribe
from tests.support.stripesim import Sim

T0 = 1_893_456_000


def worked_off(service: Service, sim: Sim) -> bool:
    return deliveries_settled(sim) and all(r.state in ("processed", "ignored") for r in inbox_rows(service))


def renew_once(service: Service, sim: Sim, catalog: Catalog, gateway: CountingGateway, user: str) -> tuple[str, str]:
    """A subscriber on a test clock, worked off; then its renewal. (subscription, renewal invoice)."""
    client = sim.client()
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": T0})
    with service.sessions() as session:
        get_or_create_customer(
            session,
            StripeGateway.from_settings(service.settings),
            user_id=user,
            email=f"{user}@example.com",
            test_clock=clock.id,
        )
        session.commit()
    activity = Activity()
    subscription_id = subscribe(service, sim, activity, user, "basic", "month")
    assert subscription_id is not None
    wait_for("the checkout worked off", lambda: worked_off(service, sim))
    gateway.reads.clear()

    sub = client.v1.subscriptions.retrieve(subscription_id)
    period_end = min(item.current_period_end for item in sub["items"].data)
    sim.advance(client, clock.id, period_end + 7200)  # past the renewal and its draft's hour
    renewal = client.v1.subscriptions.retrieve(subscription_id).latest_invoice
    assert isinstance(renewal, str) and renewal != sub.latest_invoice
    wait_for("the renewal worked off", lambda: worked_off(service, sim))
    wait_for("the mirror equal to Stripe", lambda: mirror_differences(service, sim, catalog, activity) == {})
    return subscription_id, renewal


def test_a_renewal_reaches_the_mirror_from_its_events_payloads_alone(
    make_paywire_service: Callable[..., Service],
    sim: Sim,
    catalog: Catalog,
    counted_worker: Callable[[Service], CountingGateway],
) -> None:
    service = make_paywire_service(with_worker=False)
    gateway = counted_worker(service)
    applied_before = WEBHOOK_PAYLOADS_APPLIED.labels(kind="invoice")._value.get()

    subscription_id, renewal = renew_once(service, sim, catalog, gateway, "user_payload_renewal")

    assert gateway.reads[subscription_id] == 0, "the renewal's subscription.updated payload was applied"
    assert gateway.reads[renewal] == 0, "the renewal invoice's events carried every state it went through"
    assert WEBHOOK_PAYLOADS_APPLIED.labels(kind="invoice")._value.get() > applied_before
    # The receipt is recorded; its link is asked of Stripe when the mail is sent, not on the
    # event's way to the mirror: the renewal's events made no request for it.
    with service.sessions() as session:
        fact = session.scalar(select(OutboxFact).where(OutboxFact.dedup_key == f"receipt:{renewal}"))
    assert fact is not None and "receipt_url" not in fact.payload


def test_with_the_rule_off_the_same_renewal_is_re_read(
    make_paywire_service: Callable[..., Service],
    sim: Sim,
    catalog: Catalog,
    counted_worker: Callable[[Service], CountingGateway],
) -> None:
    service = make_paywire_service(with_worker=False, PAYWIRE_APPLY_EVENT_PAYLOADS=False)
    gateway = counted_worker(service)

    subscription_id, renewal = renew_once(service, sim, catalog, gateway, "user_reread_renewal")

    assert gateway.reads[subscription_id] >= 1
    assert gateway.reads[renewal] >= 1
