"""Pause and unpause end to end: no access while paused, data kept, a new cycle charged at
unpause (less the unused time credited at pause); `pause_collection` where a schedule is
attached."""

from __future__ import annotations

from tests.paywire.billing.subscribers import (
    DAY,
    FEB_1,
    MAR_1,
    assert_mirror_matches_stripe,
    event_count,
    subscribed,
)
from tests.paywire.conftest import Service
from tests.support.stripesim import Sim

FEB_20 = FEB_1 + 19 * DAY
MAR_20 = MAR_1 + 19 * DAY


def test_pause_withholds_access_and_unpause_starts_a_new_cycle(paywire_service: Service, sim: Sim) -> None:
    pam = subscribed(paywire_service, sim, "pam", "pro")

    paused = pam.ok("/api/subscription/pause")

    assert (paused["status"], paused["how"]) == ("paused", "pause")
    for billing in (paused["billing"], pam.billing()):
        assert (billing["state"], billing["access"], billing["reason"]) == ("paused", False, "paused")
        assert billing["features"] == []
    assert pam.mirror().plan == "pro"  # data kept
    assert_mirror_matches_stripe(pam)
    events = event_count(sim)
    assert pam.post("/api/subscription/pause").status_code == 409
    assert pam.post("/api/subscription/change", {"plan": "basic", "interval": "month"}).status_code == 409
    assert event_count(sim) == events
    pam.advance(FEB_20)
    assert pam.billing()["access"] is False

    unpaused = pam.ok("/api/subscription/unpause")

    assert unpaused["status"] == "active"
    billing = pam.billing()
    assert (billing["state"], billing["access"], billing["plan"]) == ("active", True, "pro")
    assert billing["current_period_end"] == MAR_20
    assert pam.latest_invoice()["amount_paid"] == 500  # $10 for the new month - $5 unused at pause
    assert pam.post("/api/subscription/unpause").status_code == 409
    pam.settle()
    assert_mirror_matches_stripe(pam)


def test_a_subscription_with_a_schedule_pauses_its_collection(paywire_service: Service, sim: Sim) -> None:
    quin = subscribed(paywire_service, sim, "quin", "pro")
    quin.ok("/api/subscription/change", {"plan": "basic", "interval": "month"})

    paused = quin.ok("/api/subscription/pause")

    assert paused["how"] == "pause_collection" and paused["status"] == "active"
    stripe_sub = quin.stripe_subscription()
    assert stripe_sub["pause_collection"]["behavior"] == "void"
    billing = quin.billing()
    assert (billing["state"], billing["access"]) == ("paused", False)
    assert billing["pending_change"]["plan"] == "basic"  # the downgrade still waits
    assert_mirror_matches_stripe(quin)

    resumed = quin.ok("/api/subscription/resume")  # the route's former name, kept as an alias

    assert resumed["how"] == "pause_collection"
    assert quin.stripe_subscription()["pause_collection"] is None
    assert (quin.billing()["state"], quin.billing()["access"]) == ("active", True)
    assert_mirror_matches_stripe(quin)
