"""Cancel at the period end, reactivate before it, and an admin's immediate cancel with a
prorated refund, end to end against stripesim."""

from __future__ import annotations

from collections.abc import Callable

from tests.paywire.billing.subscribers import (
    DAY,
    MAR_1,
    assert_mirror_matches_stripe,
    event_count,
    subscribed,
)
from tests.paywire.conftest import Service
from tests.support.stripesim import Sim

HOUR = 3600


def test_cancel_keeps_access_to_the_period_end_and_reactivate_undoes_it(paywire_service: Service, sim: Sim) -> None:
    kim = subscribed(paywire_service, sim, "kim", "advanced")

    canceled = kim.ok("/api/subscription/cancel")

    assert (canceled["status"], canceled["ends_at"]) == ("cancel_pending", MAR_1)
    for billing in (canceled["billing"], kim.billing()):
        assert (billing["state"], billing["access"], billing["cancel_at_period_end"]) == ("cancel_pending", True, True)
        assert billing["access_until"] == MAR_1
    assert_mirror_matches_stripe(kim)
    events = event_count(sim)
    again = kim.post("/api/subscription/cancel")
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_allowed_in_state"
    assert event_count(sim) == events

    reactivated = kim.ok("/api/subscription/reactivate")

    assert reactivated["billing"]["state"] == "active" and kim.billing()["cancel_at_period_end"] is False
    assert kim.stripe_subscription()["cancel_at_period_end"] is False
    assert kim.post("/api/subscription/reactivate").status_code == 409
    kim.settle()
    assert_mirror_matches_stripe(kim)


def test_after_the_period_end_a_canceled_subscription_refuses_every_change(paywire_service: Service, sim: Sim) -> None:
    lee = subscribed(paywire_service, sim, "lee", "pro")
    lee.ok("/api/subscription/cancel")
    lee.advance(MAR_1 - DAY)
    assert lee.billing()["access"] is True

    lee.advance(MAR_1 + HOUR)

    ended = lee.billing()
    assert (ended["state"], ended["access"], ended["plan"]) == ("canceled", False, None)
    events = event_count(sim)
    for path, body in (
        ("/api/subscription/change", {"plan": "basic", "interval": "month"}),
        ("/api/subscription/preview", {"plan": "basic", "interval": "month"}),
        ("/api/subscription/reactivate", {}),
        ("/api/subscription/cancel", {}),
        ("/api/subscription/pause", {}),
        ("/api/subscription/discount", {"promotion_code": "ANY"}),
    ):
        response = lee.post(path, body)
        assert response.status_code == 409, (path, response.text)
        assert response.json()["error"]["state"] == "canceled", path
    assert event_count(sim) == events


def test_cancel_drops_a_pending_downgrade(paywire_service: Service, sim: Sim) -> None:
    max_ = subscribed(paywire_service, sim, "max", "pro")
    max_.ok("/api/subscription/change", {"plan": "basic", "interval": "month"})
    assert max_.billing()["pending_change"] is not None

    canceled = max_.ok("/api/subscription/cancel")

    assert canceled["dropped_pending_change"] is True
    billing = max_.billing()
    assert (billing["plan"], billing["state"], billing["pending_change"]) == ("pro", "cancel_pending", None)
    assert max_.stripe_subscription()["schedule"] is None
    assert_mirror_matches_stripe(max_)


def test_an_admin_cancels_now_with_a_prorated_refund(make_paywire_service: Callable[..., Service], sim: Sim) -> None:
    service = make_paywire_service(PAYWIRE_ADMIN_USERS="root,ops")
    nia = subscribed(service, sim, "nia", "pro", quantity=2)
    admin = service.headers_for("ops")
    events = event_count(sim)
    refused = nia.post("/api/admin/users/nia/subscription/cancel-now", {"refund": True})  # nia is no admin
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "admin_only"
    assert event_count(sim) == events and nia.billing()["access"] is True

    done = nia.post("/api/admin/users/nia/subscription/cancel-now", {"refund": True}, headers=admin)

    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["credit"], done.json()["refunded"]) == ("canceled", 1000, 1000)
    billing = nia.billing()
    assert (billing["state"], billing["access"]) == ("canceled", False)
    client = sim.client()
    refunds = client.v1.refunds.list().data
    assert [r.amount for r in refunds] == [1000]  # half of 2 x $10
    customer = nia.stripe_subscription()["customer"]
    pending = client.v1.invoice_items.list(params={"customer": customer, "pending": True}).data
    assert pending == []  # the credit was paid back in money, not kept for a later invoice
    assert_mirror_matches_stripe(nia)


def test_an_admin_cancel_without_refund_refunds_nothing(make_paywire_service: Callable[..., Service], sim: Sim) -> None:
    service = make_paywire_service(PAYWIRE_ADMIN_USERS="root")
    oz = subscribed(service, sim, "oz", "basic")

    done = oz.post("/api/admin/users/oz/subscription/cancel-now", {}, headers=service.headers_for("root"))

    assert done.status_code == 200 and done.json()["refunded"] == 0
    assert sim.client().v1.refunds.list().data == []
    assert oz.billing()["state"] == "canceled"
    missing = oz.post("/api/admin/users/nobody/subscription/cancel-now", {}, headers=service.headers_for("root"))
    assert missing.status_code == 404


def test_a_paused_subscription_is_refunded_its_unused_time_once(
    make_paywire_service: Callable[..., Service], sim: Sim
) -> None:
    service = make_paywire_service(PAYWIRE_ADMIN_USERS="root")
    pia = subscribed(service, sim, "pia", "pro")
    pia.ok("/api/subscription/pause")  # half of February unused: $5 credited
    pia.advance(MAR_1 - 9 * DAY)

    done = pia.post(
        "/api/admin/users/pia/subscription/cancel-now", {"refund": True}, headers=service.headers_for("root")
    )

    assert done.status_code == 200, done.text
    assert (done.json()["credit"], done.json()["refunded"]) == (500, 500)
    assert [r.amount for r in sim.client().v1.refunds.list().data] == [500]
