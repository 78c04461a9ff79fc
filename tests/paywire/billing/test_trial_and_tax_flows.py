"""One trial per user ever (also after cancelling and subscribing again), and tax: automatic
tax on checkout and on changes when configured, tax id collection at checkout."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import delete

from paywire.db.models import Customer, Subscription, SubscriptionItem
from tests.paywire.billing.subscribers import HALF_FEB, on_a_clock, subscribed
from tests.paywire.conftest import Service
from tests.support.stripesim import Sim


def test_a_trial_is_given_once_also_after_cancelling_and_subscribing_again(
    make_paywire_service: Callable[..., Service], sim: Sim
) -> None:
    service = make_paywire_service(PAYWIRE_TRIAL_DAYS=7, PAYWIRE_ADMIN_USERS="root")
    val = subscribed(service, sim, "val", "basic", advance_to=None)
    assert val.stripe_subscription()["status"] == "trialing"
    ended = val.post("/api/admin/users/val/subscription/cancel-now", {}, headers=service.headers_for("root"))
    assert ended.status_code == 200 and val.billing()["state"] == "canceled"

    val.subscribe("basic")

    again = val.stripe_subscription()
    assert (again["status"], again["trial_end"]) == ("active", None)
    assert val.latest_invoice()["amount_paid"] == 500


def test_stripes_memory_of_a_trial_counts_when_the_mirror_lost_it(
    make_paywire_service: Callable[..., Service], sim: Sim
) -> None:
    service = make_paywire_service(PAYWIRE_TRIAL_DAYS=7, PAYWIRE_ADMIN_USERS="root")
    wyn = subscribed(service, sim, "wyn", "basic", advance_to=None)
    wyn.post("/api/admin/users/wyn/subscription/cancel-now", {}, headers=service.headers_for("root"))
    wyn.settle()
    with service.sessions() as session:  # the mirror forgets (a restore from an old backup)
        session.execute(delete(SubscriptionItem))
        session.execute(delete(Subscription).where(Subscription.user_id == "wyn"))
        session.query(Customer).filter_by(user_id="wyn").update({"trial_used": False})
        session.commit()

    session_id = wyn.ok("/api/checkout", {"plan": "basic", "interval": "month"})["id"]

    with service.sessions() as session:  # Stripe remembered: the mark is back
        assert session.query(Customer).filter_by(user_id="wyn").one().trial_used is True
    assert sim.complete_checkout(session_id).status_code == 200
    wyn.settle()
    assert wyn.stripe_subscription()["status"] == "active"


def test_tax_on_checkout_and_on_a_change(make_paywire_service: Callable[..., Service], sim: Sim) -> None:
    service = make_paywire_service(PAYWIRE_AUTOMATIC_TAX=True)
    sim.control("config", {"automatic_tax_percent": 10})
    xia = on_a_clock(service, sim, "xia")
    session_id = xia.ok("/api/checkout", {"plan": "basic", "interval": "month"})["id"]
    checkout = sim.client().v1.checkout.sessions.retrieve(session_id)
    assert checkout.automatic_tax.enabled is True and checkout.tax_id_collection.enabled is True
    assert sim.complete_checkout(session_id).status_code == 200
    xia.settle()
    assert xia.latest_invoice()["amount_paid"] == 550  # $5 + 10 %
    xia.advance(HALF_FEB)

    preview = xia.ok("/api/subscription/preview", {"plan": "pro", "interval": "month"})
    changed = xia.ok("/api/subscription/change", {"plan": "pro", "interval": "month"})

    assert (preview["tax_now"], preview["amount_due_now"]) == (25, 275)  # 10 % of $2.50
    assert changed["invoice"]["amount_paid"] == 275
    assert preview["next_invoice"]["amount"] == 1100


def test_tax_id_collection_is_on_by_default(paywire_service: Service, sim: Sim) -> None:
    yan = on_a_clock(paywire_service, sim, "yan")
    session_id = yan.ok("/api/checkout", {"plan": "basic", "interval": "month"})["id"]
    checkout = sim.client().v1.checkout.sessions.retrieve(session_id)
    assert checkout.tax_id_collection.enabled is True and checkout.automatic_tax.enabled is False
