"""`proration_date` comes from the client (the preview's, sent back on confirm), so it must not
let the client choose an amount: on a change that starts a new cycle (monthly → yearly) an older
date credits time the user has already used."""

from __future__ import annotations

from tests.paywire.billing.subscribers import FEB_1, HALF_FEB, event_count, subscribed
from tests.paywire.conftest import Service
from tests.support.stripesim import Sim

CHANGE = "/api/subscription/change"


def test_a_proration_date_from_long_before_the_preview_is_refused(paywire_service: Service, sim: Sim) -> None:
    """Half of February used: an honest month → year change credits $5.00 of Pro; the period's
    start as proration date would credit the whole month ($10.00) for time already used."""
    eve = subscribed(paywire_service, sim, "eve", "pro")
    events = event_count(sim)

    response = eve.post(CHANGE, {"plan": "pro", "interval": "year", "proration_date": FEB_1})

    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == "proration_date"
    assert event_count(sim) == events, "a refused change wrote to Stripe"
    assert eve.billing()["plan"] == "pro" and eve.mirror().interval == "month"


def test_the_previews_proration_date_is_still_honoured(paywire_service: Service, sim: Sim) -> None:
    fay = subscribed(paywire_service, sim, "fay", "pro")
    preview = fay.ok("/api/subscription/preview", {"plan": "pro", "interval": "year"})
    assert preview["proration_date"] == HALF_FEB

    changed = fay.ok(CHANGE, {"plan": "pro", "interval": "year", "proration_date": preview["proration_date"]})

    assert changed["invoice"]["amount_paid"] == preview["amount_due_now"] == 9500
