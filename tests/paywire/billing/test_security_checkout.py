"""One subscription per user also when the user opens several checkouts before paying one:
each new subscription checkout expires the user's older open ones, so no second subscription
(and no second charge) can come out of a stale tab."""

from __future__ import annotations

from typing import Any

import stripe

from tests.paywire.conftest import Service
from tests.support.stripesim import Sim


def _checkout(service: Service, user: str, body: dict[str, Any]) -> dict[str, Any]:
    with service.http() as http:
        r = http.post("/api/checkout", json=body, headers=service.headers_for(user))
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def test_two_open_checkouts_cannot_both_become_subscriptions(
    paywire_service: Service, sim: Sim, stripe_client: stripe.StripeClient
) -> None:
    first = _checkout(paywire_service, "tabs", {"plan": "basic", "interval": "month"})
    second = _checkout(paywire_service, "tabs", {"plan": "pro", "interval": "month", "quantity": 2})

    paid_second = sim.complete_checkout(second["id"])
    paid_first = sim.complete_checkout(first["id"])

    assert paid_second.status_code == 200, paid_second.text
    assert paid_first.status_code >= 400, "the older checkout could still be paid"
    customer = stripe_client.v1.checkout.sessions.retrieve(second["id"]).customer
    subs = stripe_client.v1.subscriptions.list(params={"customer": str(customer), "status": "all"}).data
    assert len(subs) == 1


def test_asking_again_for_an_expired_checkout_gives_a_payable_one(paywire_service: Service, sim: Sim) -> None:
    basic = _checkout(paywire_service, "undecided", {"plan": "basic", "interval": "month"})
    _checkout(paywire_service, "undecided", {"plan": "pro", "interval": "month"})  # expires the first

    again = _checkout(paywire_service, "undecided", {"plan": "basic", "interval": "month"})

    assert again["id"] != basic["id"] and again["url"]
    assert sim.complete_checkout(again["id"]).status_code == 200
