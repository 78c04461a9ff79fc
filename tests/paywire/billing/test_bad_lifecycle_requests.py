"""Bad requests to the lifecycle API: a 4xx with `{"error": {"message", "field"}}` and no
change at all, neither in Stripe (no event emitted) nor in the mirror (row untouched)."""

from __future__ import annotations

from typing import Any

from tests.paywire.billing.subscribers import Subscriber, event_count, subscribed
from tests.paywire.conftest import Service
from tests.support.stripesim import Sim

CHANGE = "/api/subscription/change"
PREVIEW = "/api/subscription/preview"


def snapshot(subscriber: Subscriber) -> dict[str, Any]:
    row = subscriber.mirror()
    return {
        "version": row.stripe_version,
        "object": row.stripe_object,
        "items": [(i.price_id, i.quantity) for i in row.items],
    }


def test_bad_requests_change_nothing(paywire_service: Service, sim: Sim) -> None:
    vic = subscribed(paywire_service, sim, "vic", "pro", quantity=2, advance_to=None)
    wes = subscribed(paywire_service, sim, "wes", "basic", advance_to=None)
    nobody = Subscriber(paywire_service, sim, "nobody", vic.clock_id)
    vic.ok(CHANGE, {"plan": "pro", "interval": "month", "quantity": 1})  # a downgrade, now pending
    cases: list[tuple[str, Subscriber, str, dict[str, Any] | None, int, str | None]] = [
        ("unknown plan", vic, CHANGE, {"plan": "platinum", "interval": "month"}, 400, "plan"),
        ("no plan", vic, CHANGE, {"interval": "month"}, 400, "plan"),
        ("unknown interval", vic, CHANGE, {"plan": "pro", "interval": "week"}, 400, "interval"),
        ("zero seats", vic, CHANGE, {"plan": "pro", "interval": "month", "quantity": 0}, 400, "quantity"),
        ("too many seats", vic, CHANGE, {"plan": "pro", "interval": "month", "quantity": 101}, 400, "quantity"),
        ("seats on a flat plan", vic, CHANGE, {"plan": "basic", "interval": "month", "quantity": 2}, 400, "quantity"),
        ("a price", vic, CHANGE, {"plan": "pro", "interval": "month", "price": "price_123"}, 400, "price"),
        ("an amount", vic, PREVIEW, {"plan": "pro", "interval": "month", "amount": 1}, 400, "amount"),
        ("unknown field", vic, CHANGE, {"plan": "pro", "interval": "month", "colour": "red"}, 400, "colour"),
        ("quantity as text", vic, CHANGE, {"plan": "pro", "interval": "month", "quantity": "3"}, 400, "quantity"),
        ("the current plan", wes, CHANGE, {"plan": "basic", "interval": "month"}, 409, "plan"),
        ("the current plan, preview", wes, PREVIEW, {"plan": "basic", "interval": "month"}, 409, "plan"),
        ("a second downgrade", vic, CHANGE, {"plan": "advanced", "interval": "month"}, 409, "plan"),
        ("an upgrade over a pending change", vic, CHANGE, {"plan": "pro", "interval": "year"}, 409, "plan"),
        (
            "another user's subscription",
            wes,
            CHANGE,
            {"plan": "pro", "interval": "month", "subscription": ""},
            404,
            "subscription",
        ),
        ("another user's, cancel", wes, "/api/subscription/cancel", {"subscription": ""}, 404, "subscription"),
        ("no subscription at all", nobody, CHANGE, {"plan": "pro", "interval": "month"}, 404, "subscription"),
        ("no pending change", wes, "/api/subscription/pending-change/cancel", {}, 409, None),
        ("not canceling", wes, "/api/subscription/reactivate", {}, 409, None),
        ("not paused", wes, "/api/subscription/unpause", {}, 409, None),
        (
            "proration date in the future",
            wes,
            CHANGE,
            {"plan": "pro", "interval": "month", "proration_date": 4_000_000_000},
            400,
            "proration_date",
        ),
        ("not JSON", wes, CHANGE, None, 400, None),
    ]
    vic_sub = vic.subscription_id()
    # The downgrade's own webhooks must be applied first, or their re-reads look like changes.
    vic.settle()
    before = {s.user_id: snapshot(s) for s in (vic, wes)}
    events = event_count(sim)
    for name, who, path, body, status, field in cases:
        if body is not None and body.get("subscription") == "":
            body = {**body, "subscription": vic_sub}  # wes names vic's subscription
        with paywire_service.http() as http:
            if body is None:
                response = http.post(
                    path, content=b"{not json", headers={**who.headers, "content-type": "application/json"}
                )
            else:
                response = http.post(path, json=body, headers=who.headers)
        assert response.status_code == status, f"{name}: {response.status_code} {response.text}"
        error = response.json()["error"]
        assert error["message"], name
        assert error["field"] == field, f"{name}: field {error['field']!r}"
    assert event_count(sim) == events, "a bad request wrote to Stripe"
    assert {s.user_id: snapshot(s) for s in (vic, wes)} == before, "a bad request changed the mirror"


def test_the_api_needs_a_token(paywire_service: Service) -> None:
    with paywire_service.http() as http:
        for path in (CHANGE, PREVIEW, "/api/subscription/cancel", "/api/subscription/pause"):
            assert http.post(path, json={}).status_code == 401, path
