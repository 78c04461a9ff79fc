"""Plan changes end to end: paywire's API over HTTP, stripesim's money to the cent, the mirror
right after each answer, entitlements before and after, and the webhooks that follow.

Every subscriber starts on 1 Feb 2026 (clock time) and acts on 15 Feb: half of February's 28
days is left, so a change from Basic ($5) to Pro ($10) credits $2.50 and charges $5.00.
"""

from __future__ import annotations

from collections.abc import Callable

from paywire.stripe import Kind
from tests.paywire.billing.subscribers import (
    CARD_3DS,
    CARD_DECLINE,
    CARD_OK,
    DAY,
    FEB_1,
    HALF_FEB,
    MAR_1,
    Subscriber,
    assert_mirror_matches_stripe,
    event_count,
    subscribed,
    wait_for,
)
from tests.paywire.conftest import Service
from tests.support.stripesim import Sim

HOUR = 3600
FEB_15_2027 = HALF_FEB + 365 * DAY


def use_card(subscriber: Subscriber, number: str) -> None:
    """The customer's card changes (test setup, as if done in the portal)."""
    client = subscriber.sim.client()
    sub = client.v1.subscriptions.retrieve(subscriber.subscription_id())
    pm = client.v1.payment_methods.create(
        params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034}}
    )
    client.v1.payment_methods.attach(pm.id, params={"customer": str(sub.customer)})
    client.v1.customers.update(str(sub.customer), params={"invoice_settings": {"default_payment_method": pm.id}})
    client.v1.subscriptions.update(sub.id, params={"default_payment_method": pm.id})


def test_an_upgrade_is_prorated_invoiced_now_and_keeps_the_billing_date(paywire_service: Service, sim: Sim) -> None:
    alice = subscribed(paywire_service, sim, "alice", "basic")
    before = alice.billing()
    assert (before["plan"], before["current_period_end"]) == ("basic", MAR_1)
    assert "api_access" not in before["features"]

    preview = alice.ok("/api/subscription/preview", {"plan": "pro", "interval": "month"})

    assert (preview["change"], preview["effective"], preview["proration_date"]) == ("upgrade", "now", HALF_FEB)
    assert (preview["amount_due_now"], preview["credit"]) == (250, 250)
    assert sorted(line["amount"] for line in preview["lines"]) == [-250, 500]
    assert all(line["proration"] for line in preview["lines"])
    assert preview["next_invoice"]["date"] == MAR_1 and preview["next_invoice"]["amount"] == 1000
    assert alice.stripe_subscription()["items"]["data"][0]["price"]["lookup_key"] == "basic_month"

    changed = alice.ok(
        "/api/subscription/change",
        {"plan": "pro", "interval": "month", "proration_date": preview["proration_date"]},
    )

    assert (changed["change"], changed["status"]) == ("upgrade", "changed")
    assert changed["invoice"]["status"] == "paid"
    assert changed["invoice"]["amount_paid"] == preview["amount_due_now"] == 250
    # Right away, before any webhook: the answer and GET /api/billing say Pro.
    for billing in (changed["billing"], alice.billing()):
        assert (billing["plan"], billing["state"], billing["access"]) == ("pro", "active", True)
        assert "api_access" in billing["features"]
        assert billing["current_period_end"] == MAR_1  # billing date unchanged
    assert_mirror_matches_stripe(alice)

    alice.settle()  # the webhooks that follow converge on the same state
    assert alice.billing()["plan"] == "pro"
    assert_mirror_matches_stripe(alice)
    alice.advance(MAR_1 + 2 * HOUR)
    assert alice.latest_invoice()["amount_paid"] == 1000


def test_a_declined_upgrade_changes_nothing_until_its_invoice_is_paid(paywire_service: Service, sim: Sim) -> None:
    bob = subscribed(paywire_service, sim, "bob", "basic")
    use_card(bob, CARD_DECLINE)

    response = bob.post("/api/subscription/change", {"plan": "advanced", "interval": "month"})

    assert response.status_code == 402, response.text
    body = response.json()
    assert body["status"] == "requires_payment" and body["error"]["code"] == "requires_payment"
    assert body["hosted_invoice_url"] and body["hosted_invoice_url"] == body["invoice"]["hosted_invoice_url"]
    assert body["invoice"]["status"] == "open" and body["invoice"]["amount_due"] == 100  # 350 - 250
    for billing in (body["billing"], bob.billing()):
        assert (billing["plan"], billing["access"]) == ("basic", True)
        assert billing["pending_payment"]["hosted_invoice_url"] == body["hosted_invoice_url"]
        assert billing["pending_payment"]["expires_at"] == HALF_FEB + 23 * HOUR
    stripe_sub = bob.stripe_subscription()
    assert stripe_sub["items"]["data"][0]["price"]["lookup_key"] == "basic_month"
    assert stripe_sub["pending_update"] is not None
    again = bob.post("/api/subscription/change", {"plan": "pro", "interval": "month"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "payment_pending"

    use_card(bob, CARD_OK)
    sim.client().v1.invoices.pay(body["invoice"]["id"])

    paid = wait_for("the upgrade applied by its webhook", lambda: (b := bob.billing())["plan"] == "advanced" and b)
    assert paid["pending_payment"] is None and "export" in paid["features"]
    bob.settle()
    assert_mirror_matches_stripe(bob)


def test_an_upgrade_needing_authentication_answers_requires_action(paywire_service: Service, sim: Sim) -> None:
    carol = subscribed(paywire_service, sim, "carol", "basic")
    use_card(carol, CARD_3DS)

    response = carol.post("/api/subscription/change", {"plan": "pro", "interval": "month"})

    assert response.status_code == 402, response.text
    body = response.json()
    assert body["status"] == "requires_action" and body["hosted_invoice_url"]
    assert carol.billing()["plan"] == "basic"
    invoice = carol.gateway.retrieve(Kind.INVOICE, body["invoice"]["id"])
    [payment] = carol.gateway.list_invoice_payments(invoice["id"])
    intent = payment["payment"]["payment_intent"]
    authenticated = sim.control(f"payment_intents/{intent}/authenticate", {"result": "succeed"})
    assert authenticated["status"] == "succeeded"

    wait_for("the upgrade applied", lambda: carol.billing()["plan"] == "pro")


def test_an_unpaid_upgrade_lapses_after_23_hours(paywire_service: Service, sim: Sim) -> None:
    dan = subscribed(paywire_service, sim, "dan", "basic")
    use_card(dan, CARD_DECLINE)
    assert dan.post("/api/subscription/change", {"plan": "pro", "interval": "month"}).status_code == 402
    assert dan.billing()["pending_payment"] is not None

    dan.advance(HALF_FEB + 23 * HOUR + 60)

    lapsed = dan.billing()
    assert (lapsed["plan"], lapsed["pending_payment"]) == ("basic", None)
    assert dan.stripe_subscription()["pending_update"] is None
    assert_mirror_matches_stripe(dan)


def test_a_downgrade_waits_for_the_period_end(paywire_service: Service, sim: Sim) -> None:
    erin = subscribed(paywire_service, sim, "erin", "pro")

    preview = erin.ok("/api/subscription/preview", {"plan": "basic", "interval": "month"})
    assert (preview["change"], preview["effective"], preview["effective_date"]) == ("downgrade", "period_end", MAR_1)
    assert (preview["amount_due_now"], preview["credit"], preview["lines"]) == (0, 0, [])
    assert (preview["next_invoice"]["date"], preview["next_invoice"]["amount"]) == (MAR_1, 500)
    invoices_before = len(erin.gateway.list_invoices_of_subscription(erin.subscription_id()))

    changed = erin.ok("/api/subscription/change", {"plan": "basic", "interval": "month"})

    assert (changed["change"], changed["status"], changed["effective_date"]) == ("downgrade", "scheduled", MAR_1)
    assert changed["invoice"] is None
    for billing in (changed["billing"], erin.billing()):
        # Keeps what was paid for until the period end.
        assert (billing["plan"], billing["access"]) == ("pro", True) and "api_access" in billing["features"]
        assert billing["pending_change"] == {
            "plan": "basic",
            "interval": "month",
            "quantity": 1,
            "effective_date": MAR_1,
        }
    assert len(erin.gateway.list_invoices_of_subscription(erin.subscription_id())) == invoices_before
    assert_mirror_matches_stripe(erin)

    events = event_count(sim)
    second = erin.post("/api/subscription/change", {"plan": "advanced", "interval": "month"})
    assert second.status_code == 409 and second.json()["error"]["code"] == "change_pending"
    assert event_count(sim) == events

    erin.advance(MAR_1 + 2 * HOUR)
    after = erin.billing()
    assert (after["plan"], after["pending_change"]) == ("basic", None)
    assert "api_access" not in after["features"]
    assert erin.latest_invoice()["amount_paid"] == 500
    assert_mirror_matches_stripe(erin)


def test_cancelling_the_pending_change_keeps_the_plan(paywire_service: Service, sim: Sim) -> None:
    fay = subscribed(paywire_service, sim, "fay", "pro")
    fay.ok("/api/subscription/change", {"plan": "advanced", "interval": "month"})
    schedule_id = fay.stripe_subscription()["schedule"]
    assert schedule_id

    undone = fay.ok("/api/subscription/pending-change/cancel")

    assert undone["canceled_change"]["plan"] == "advanced"
    assert undone["billing"]["pending_change"] is None and fay.billing()["pending_change"] is None
    assert fay.stripe_subscription()["schedule"] is None
    assert fay.gateway.retrieve(Kind.SUBSCRIPTION_SCHEDULE, schedule_id)["status"] == "released"
    again = fay.post("/api/subscription/pending-change/cancel")
    assert again.status_code == 409 and again.json()["error"]["code"] == "no_pending_change"
    fay.advance(MAR_1 + 2 * HOUR)
    assert fay.billing()["plan"] == "pro"
    assert fay.latest_invoice()["amount_paid"] == 1000


def test_monthly_to_yearly_is_an_upgrade_that_starts_a_new_year_now(paywire_service: Service, sim: Sim) -> None:
    gus = subscribed(paywire_service, sim, "gus", "pro")

    preview = gus.ok("/api/subscription/preview", {"plan": "pro", "interval": "year"})
    assert (preview["change"], preview["amount_due_now"], preview["credit"]) == ("upgrade", 9500, 500)
    assert preview["next_invoice"]["date"] == FEB_15_2027 and preview["next_invoice"]["amount"] == 10000

    changed = gus.ok("/api/subscription/change", {"plan": "pro", "interval": "year"})

    assert changed["invoice"]["amount_paid"] == 9500
    billing = gus.billing()
    assert (billing["plan"], billing["current_period_end"]) == ("pro", FEB_15_2027)
    assert_mirror_matches_stripe(gus)


def test_yearly_to_monthly_waits_for_the_end_of_the_year(paywire_service: Service, sim: Sim) -> None:
    hal = subscribed(paywire_service, sim, "hal", "basic", "year")
    year_end = hal.billing()["current_period_end"]
    assert year_end == FEB_1 + 365 * DAY

    changed = hal.ok("/api/subscription/change", {"plan": "basic", "interval": "month"})

    assert (changed["status"], changed["effective_date"]) == ("scheduled", year_end)
    assert hal.billing()["pending_change"]["interval"] == "month"
    hal.advance(year_end + 2 * HOUR)
    after = hal.billing()
    assert after["pending_change"] is None
    assert hal.mirror().interval == "month"
    assert hal.latest_invoice()["amount_paid"] == 500
    assert_mirror_matches_stripe(hal)


def test_more_seats_are_charged_now_fewer_wait_for_the_period_end(paywire_service: Service, sim: Sim) -> None:
    ida = subscribed(paywire_service, sim, "ida", "pro", quantity=2)
    assert ida.billing()["limits"]["members"] == 2

    more = ida.ok("/api/subscription/change", {"plan": "pro", "interval": "month", "quantity": 5})

    assert (more["change"], more["invoice"]["amount_paid"]) == ("upgrade", 1500)  # 5 x 500 - 2 x 500
    assert (more["billing"]["quantity"], more["billing"]["limits"]["members"]) == (5, 5)

    fewer = ida.ok("/api/subscription/change", {"plan": "pro", "interval": "month", "quantity": 3})

    assert (fewer["change"], fewer["status"]) == ("downgrade", "scheduled")
    billing = ida.billing()
    assert (billing["quantity"], billing["limits"]["members"]) == (5, 5)
    assert billing["pending_change"] == {"plan": "pro", "interval": "month", "quantity": 3, "effective_date": MAR_1}
    ida.advance(MAR_1 + 2 * HOUR)
    after = ida.billing()
    assert (after["quantity"], after["limits"]["members"], after["pending_change"]) == (3, 3, None)
    assert ida.latest_invoice()["amount_paid"] == 3000


def test_a_change_during_a_trial_keeps_the_trial_end(make_paywire_service: Callable[..., Service], sim: Sim) -> None:
    service = make_paywire_service(PAYWIRE_TRIAL_DAYS=14)
    jo = subscribed(service, sim, "jo", "basic", advance_to=FEB_1 + 3 * DAY)
    trial = jo.stripe_subscription()
    assert trial["status"] == "trialing" and trial["trial_end"] == HALF_FEB

    preview = jo.ok("/api/subscription/preview", {"plan": "pro", "interval": "month"})
    assert (preview["amount_due_now"], preview["next_invoice"]["date"]) == (0, HALF_FEB)
    assert preview["next_invoice"]["amount"] == 1000
    changed = jo.ok("/api/subscription/change", {"plan": "pro", "interval": "month"})
    down = jo.ok("/api/subscription/change", {"plan": "advanced", "interval": "month"})

    assert changed["status"] == down["status"] == "changed"  # during a trial, at once
    after = jo.stripe_subscription()
    assert (after["status"], after["trial_end"]) == ("trialing", HALF_FEB)  # no extra free days
    assert jo.billing()["plan"] == "advanced" and jo.billing()["state"] == "trialing"
    jo.advance(HALF_FEB + 2 * HOUR)
    assert jo.billing()["state"] == "active"
    assert jo.latest_invoice()["amount_paid"] == 700
