"""`POST /api/usage` refuses each bad event on its own, with its reason, and stores nothing for
it; a cancelled event is not billed (cancelled before it reached Stripe, or after, by an
adjustment); one cancelled more than 24 hours after it was recorded is refused."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from paywire.db.models import UsageRecord, utcnow
from paywire.usage.sender import start_sender_thread
from tests.paywire.billing.subscribers import DAY, FEB_1, HALF_FEB, MAR_1, subscribed, wait_for
from tests.paywire.conftest import Service
from tests.paywire.usage.conftest import QUICK_SENDER, SERVICE, all_sent, post_usage, states, stripe_usage
from tests.support.stripesim import Sim

HOUR = 3600


@pytest.fixture
def held_service(make_paywire_service: Callable[..., Service]) -> Service:
    """paywire whose usage waits until the test starts a sender (`sending`)."""
    return make_paywire_service(**QUICK_SENDER, PAYWIRE_USAGE_SENDER="false")


@pytest.fixture
def sending(held_service: Service) -> Iterator[Callable[[], None]]:
    stop = threading.Event()

    def start() -> None:
        start_sender_thread(held_service.settings, stop)

    yield start
    stop.set()


def stored(service: Service) -> list[str]:
    with service.sessions() as session:
        return sorted(session.scalars(select(UsageRecord.identifier)))


def test_each_bad_event_is_refused_with_its_reason_and_nothing_is_stored_for_it(
    held_service: Service, sim: Sim
) -> None:
    ivy = subscribed(held_service, sim, "ivy", "scale")
    subscribed(held_service, sim, "paul", "pro", advance_to=None)  # no metered item
    event = {"user_id": "ivy", "meter": "api_calls", "value": 5}
    bad = [
        ({**event, "meter": "tokens"}, "unknown_meter", "meter"),
        ({**event, "value": 1.5}, "invalid_value", "value"),
        ({**event, "value": -1}, "invalid_value", "value"),
        ({**event, "value": "3"}, "invalid_value", "value"),
        ({**event, "timestamp": HALF_FEB - 36 * DAY}, "timestamp_out_of_window", "timestamp"),
        ({**event, "timestamp": HALF_FEB + 600}, "timestamp_out_of_window", "timestamp"),  # the clock's future
        ({**event, "user_id": "ghost"}, "no_customer", "user_id"),
        ({**event, "user_id": "paul"}, "no_metered_item", "meter"),
        ({**event, "identifier": "x" * 101}, "invalid_identifier", "identifier"),
        ({**event, "colour": "red"}, "unknown_field", "colour"),
        ({**event, "user_id": ""}, "invalid_user", "user_id"),
        ("not an event", "invalid_event", None),
    ]
    good = {**event, "identifier": "ivy-ok"}
    response = post_usage(held_service, {"events": [good, *(e for e, _, _ in bad)]})

    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["accepted"], body["duplicates"]) == (1, 0)
    assert [(r["index"], r["code"], r["field"]) for r in body["refused"]] == [
        (i + 1, code, field) for i, (_, code, field) in enumerate(bad)
    ]
    assert all(r["message"] for r in body["refused"])
    assert [e["status"] for e in body["events"]] == ["accepted"] + ["refused"] * len(bad)
    assert stored(held_service) == ["ivy-ok"]
    with held_service.sessions() as session:
        assert session.scalar(select(UsageRecord.timestamp)) == HALF_FEB  # the customer's time (the clock)

    alone = post_usage(held_service, {**event, "value": 1.5})  # nothing recorded: 422, the reason
    assert alone.status_code == 422
    assert (alone.json()["error"]["code"], alone.json()["error"]["field"]) == ("invalid_value", "value")
    assert post_usage(held_service, {"events": [{**event, "meter": "tokens"}]}).json()["error"]["code"] == (
        "usage_refused"
    )
    assert post_usage(held_service, {"events": [event] * 1001}).status_code == 400
    assert post_usage(held_service, {"events": []}).status_code == 400
    with held_service.http() as http:
        assert http.post("/api/usage", content=b"{not json", headers=SERVICE).status_code == 400
        for headers in ({}, ivy.headers, {"Authorization": "Bearer not-the-service-token-at-all"}):
            refused = http.post("/api/usage", json=event, headers=headers)  # a user's token is not a service's
            assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthenticated"
    assert stored(held_service) == ["ivy-ok"]


def test_a_cancelled_event_is_not_billed_and_one_older_than_24_hours_is_refused(
    held_service: Service, sim: Sim, sending: Callable[[], None]
) -> None:
    jay = subscribed(held_service, sim, "jay", "scale")
    at = HALF_FEB + 60

    def record(identifier: str, value: int) -> None:
        body = {"user_id": "jay", "meter": "api_calls", "value": value, "identifier": identifier, "timestamp": at}
        assert post_usage(held_service, body).json()["events"][0]["status"] == "accepted"

    def cancel(identifier: str) -> tuple[int, dict[str, object]]:
        with held_service.http() as http:
            response = http.delete(f"/api/usage/{identifier}", headers=SERVICE)
        return response.status_code, response.json()

    record("kept", 7000)
    record("never-sent", 500)
    assert cancel("never-sent") == (200, {"identifier": "never-sent", "status": "canceled"})
    assert cancel("never-sent")[1]["status"] == "canceled"  # again: the same answer
    sending()
    all_sent(held_service, "jay")
    record("sent-then-cancelled", 4000)
    record("too-old", 6000)
    all_sent(held_service, "jay")
    assert stripe_usage(jay, FEB_1, MAR_1) == 7000 + 4000 + 6000

    assert cancel("sent-then-cancelled") == (200, {"identifier": "sent-then-cancelled", "status": "cancel_pending"})
    wait_for("Stripe's copy cancelled", lambda: states(held_service, "jay").get("canceled") == 2)
    assert stripe_usage(jay, FEB_1, MAR_1) == 7000 + 6000
    with held_service.sessions() as session:  # recorded 25 hours ago
        session.execute(
            update(UsageRecord)
            .where(UsageRecord.identifier == "too-old")
            .values(recorded_at=utcnow() - timedelta(hours=25))
        )
        session.commit()
    status, body = cancel("too-old")
    assert status == 409 and body["error"]["code"] == "too_late"  # type: ignore[index]
    assert cancel("no-such-event")[0] == 404
    assert jay.billing()["usage"][0]["used"] == 7000 + 6000

    jay.advance(MAR_1 + 2 * HOUR)
    usage_lines = [line for line in jay.latest_invoice()["lines"]["data"] if "API calls" in line["description"]]
    assert [(line["quantity"], line["amount"]) for line in usage_lines] == [(10000, 0), (3000, 300)]
