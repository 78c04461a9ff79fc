"""The default catalog's hybrid plan (Scale: a flat fee and a metered price on the api_calls
meter, 10,000 calls a month included) through checkout and plan changes: its metered item rides
on the subscription, comes with an upgrade to it and goes with a downgrade from it, whose
preview and renewal still bill the usage of the period ending."""

from __future__ import annotations

from typing import Any

from tests.paywire.billing.subscribers import HALF_FEB, MAR_1, assert_mirror_matches_stripe, subscribed
from tests.paywire.conftest import Service
from tests.support.stripesim import Sim

HOUR = 3600


def _items(subscription: dict[str, Any]) -> list[tuple[str, int | None]]:
    return sorted((i["price"]["lookup_key"], i.get("quantity")) for i in subscription["items"]["data"])


def test_checkout_of_the_hybrid_plan_puts_its_metered_price_on_the_subscription(
    paywire_service: Service, sim: Sim
) -> None:
    dana = subscribed(paywire_service, sim, "dana", "scale")
    assert _items(dana.stripe_subscription()) == [("scale_api_calls_month", None), ("scale_month", 1)]
    billing = dana.billing()
    assert (billing["plan"], billing["quantity"], billing["access"]) == ("scale", 1, True)
    assert_mirror_matches_stripe(dana)
    paid = dana.latest_invoice()
    assert paid["amount_paid"] == 2000  # the flat fee; usage is billed at the period end


def test_changing_to_and_from_the_hybrid_plan_adds_and_drops_its_metered_item(
    paywire_service: Service, sim: Sim
) -> None:
    erin = subscribed(paywire_service, sim, "erin", "pro")
    preview = erin.ok("/api/subscription/preview", {"plan": "scale", "interval": "month"})
    assert preview["change"] == "upgrade" and preview["amount_due_now"] == 500  # half of (2000 - 1000)
    changed = erin.ok("/api/subscription/change", {"plan": "scale", "interval": "month"})
    assert changed["status"] == "changed" and changed["billing"]["plan"] == "scale"
    assert _items(erin.stripe_subscription()) == [("scale_api_calls_month", None), ("scale_month", 1)]
    assert_mirror_matches_stripe(erin)

    customer = erin.stripe_subscription()["customer"]
    sim.client().v1.billing.meter_events.create(
        params={
            "event_name": "api_calls",
            "identifier": "erin-calls",
            "timestamp": HALF_FEB + 60,
            "payload": {"stripe_customer_id": customer, "value": "12000"},
        }
    )
    preview = erin.ok("/api/subscription/preview", {"plan": "basic", "interval": "month"})
    usage_lines = [line for line in preview["next_invoice"]["lines"] if "API calls" in line["description"]]
    assert [(line["quantity"], line["amount"]) for line in usage_lines] == [(10000, 0), (2000, 200)]
    assert preview["next_invoice"]["amount"] == 500 + 200  # Basic, and February's usage beyond 10,000

    down = erin.ok("/api/subscription/change", {"plan": "basic", "interval": "month"})
    assert down["status"] == "scheduled" and down["billing"]["pending_change"]["plan"] == "basic"
    assert down["billing"]["pending_change"]["quantity"] == 1
    erin.settle()
    erin.advance(MAR_1 + 2 * HOUR)
    assert _items(erin.stripe_subscription()) == [("basic_month", 1)]
    assert erin.billing()["plan"] == "basic"
    renewal = erin.latest_invoice()
    assert renewal["amount_paid"] == 500 + 200  # the usage of the period that ended still billed
    assert_mirror_matches_stripe(erin)
