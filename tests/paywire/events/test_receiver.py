"""POST /webhooks/stripe over real HTTP: what is refused, what is stored, and only once."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe

from paywire.config import load_settings
from paywire.db.migrate import upgrade_to_head
from paywire.web.app import create_app
from tests.paywire.conftest import AUTH_SECRET, Service
from tests.paywire.events.conftest import (
    event_payload,
    inbox_row,
    inbox_rows,
    metric,
    post_webhook,
    secret_of,
    sign,
    wait_for,
)
from tests.support.stripesim import TEST_KEY, Sim

MiB = 1024 * 1024


@pytest.fixture
def service(make_paywire_service: Callable[..., Service]) -> Service:
    """The receiver alone: no worker, so stored rows stay as the receiver left them."""
    return make_paywire_service(with_worker=False)


def rejected(service: Service, reason: str) -> float:
    return metric(service, "paywire_webhooks_rejected_total", reason=reason)


def test_a_signed_event_is_stored_once_and_acknowledged(service: Service) -> None:
    payload = event_payload("evt_store_1", "customer.updated")
    stored_before = metric(service, "paywire_webhooks_stored_total")

    response = post_webhook(service, payload, sign(payload, secret_of(service)))

    assert response.status_code == 200
    assert response.json() == {"received": True}
    row = inbox_row(service, "evt_store_1")
    assert row is not None
    assert (row.type, row.state, row.livemode, row.object_id, row.attempts) == (
        "customer.updated",
        "pending",
        False,
        "obj_test_1",
        0,
    )
    assert row.api_version == stripe.api_version
    assert row.payload == payload.decode(), "the exact signed bytes are kept"
    assert metric(service, "paywire_webhooks_stored_total") == stored_before + 1


def test_the_same_delivery_posted_again_is_acknowledged_and_ignored(service: Service) -> None:
    payload = event_payload("evt_dup_1", "customer.updated")
    signature = sign(payload, secret_of(service))
    duplicates_before = metric(service, "paywire_webhooks_duplicates_total")

    answers = [post_webhook(service, payload, signature) for _ in range(4)]

    assert [a.status_code for a in answers] == [200] * 4
    assert [a.json().get("duplicate", False) for a in answers] == [False, True, True, True]
    assert len(inbox_rows(service, id="evt_dup_1")) == 1
    assert metric(service, "paywire_webhooks_duplicates_total") == duplicates_before + 3


@pytest.mark.parametrize(
    ("case", "reason"),
    [("forged", "forged"), ("stale", "stale"), ("missing", "missing"), ("garbled", "malformed_header")],
)
def test_bad_signatures_get_a_bare_400_and_leave_no_row(
    service: Service, case: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    payload = event_payload(f"evt_bad_{case}", "customer.updated")
    signatures: dict[str, str | None] = {
        "forged": sign(payload, "whsec_not_the_endpoint_secret"),
        # Correctly signed with the right secret, ten minutes ago: a replay.
        "stale": sign(payload, secret_of(service), int(time.time()) - 600),
        "missing": None,
        "garbled": "this is not a signature header",
    }
    before = rejected(service, reason)

    with caplog.at_level(logging.WARNING, logger="paywire.events.receiver"):
        response = post_webhook(service, payload, signatures[case])

    assert response.status_code == 400
    assert response.content == b"", "a refusal says nothing about why"
    assert inbox_rows(service) == []
    assert rejected(service, reason) == before + 1
    lines = [r for r in caplog.records if r.name == "paywire.events.receiver"]
    assert len(lines) == 1 and f"reason={reason}" in lines[0].getMessage()
    assert secret_of(service) not in caplog.text


def test_a_body_tampered_after_signing_is_refused(service: Service) -> None:
    payload = event_payload("evt_tamper", "customer.updated")
    signature = sign(payload, secret_of(service))

    response = post_webhook(service, payload.replace(b"customer.updated", b"customer.deleted"), signature)

    assert response.status_code == 400
    assert inbox_rows(service) == []


def test_a_body_over_one_mebibyte_gets_413_and_no_row(service: Service) -> None:
    payload = event_payload("evt_big", "customer.updated", padding="x" * (2 * MiB))
    signature = sign(payload, secret_of(service))
    before = rejected(service, "too_large")

    response = post_webhook(service, payload, signature)

    assert response.status_code == 413
    assert inbox_rows(service) == []
    assert rejected(service, "too_large") == before + 1


def test_a_streamed_body_without_length_is_cut_off_at_one_mebibyte(service: Service) -> None:
    payload = event_payload("evt_big_stream", "customer.updated", padding="x" * (2 * MiB))
    signature = sign(payload, secret_of(service))

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(payload), 64 * 1024):
            yield payload[start : start + 64 * 1024]

    before = rejected(service, "too_large")
    with service.http() as http:
        try:
            response = http.post(
                "/webhooks/stripe",
                content=chunks(),
                headers={"stripe-signature": signature, "content-type": "application/json"},
            )
            status: int | None = response.status_code
        except httpx.TransportError:
            status = None  # the server may close the connection mid-upload
    assert status in (413, None)
    # Whether or not the client saw the 413 before the connection closed, the server refused it.
    assert wait_for("the refusal counted", lambda: rejected(service, "too_large") == before + 1)
    assert inbox_rows(service) == []


def test_a_body_just_under_the_cap_is_accepted(service: Service) -> None:
    payload = event_payload("evt_under_cap", "customer.updated")
    payload = payload[:-1] + b', "padding": "' + b"x" * (MiB - len(payload) - 20) + b'"}'
    assert MiB - 100 < len(payload) <= MiB

    response = post_webhook(service, payload, sign(payload, secret_of(service)))

    assert response.status_code == 200
    assert inbox_row(service, "evt_under_cap") is not None


@pytest.mark.parametrize("body", [b'{"id": "evt_broken", "type": ', b"[1, 2, 3]", b'{"no": "id"}'])
def test_malformed_json_with_a_valid_signature_gets_400_and_no_row(service: Service, body: bytes) -> None:
    before = rejected(service, "malformed")

    response = post_webhook(service, body, sign(body, secret_of(service)))

    assert response.status_code == 400
    assert response.content == b""
    assert inbox_rows(service) == []
    assert rejected(service, "malformed") == before + 1


def test_an_event_from_the_other_mode_is_recorded_not_applied(
    make_paywire_service: Callable[..., Service], sim: Sim
) -> None:
    service = make_paywire_service()  # with its worker: the event must stay unapplied
    clock = sim.client().v1.test_helpers.test_clocks.create(params={"frozen_time": 1_900_000_000})
    wait_for("the sim's clock event processed", lambda: inbox_rows(service, object_id=clock.id, state="processed"))
    live = event_payload(
        "evt_live_1",
        "test_helpers.test_clock.ready",
        livemode=True,
        data={"object": {"id": clock.id, "object": "test_helpers.test_clock", "frozen_time": 2_000_000_000}},
    )
    before = metric(service, "paywire_webhooks_livemode_mismatch_total")

    response = post_webhook(service, live, sign(live, secret_of(service)))
    # An ordinary event after it: once this one is processed, the worker has seen both.
    later = event_payload("evt_after_live", "test.unknown")
    post_webhook(service, later, sign(later, secret_of(service)))
    wait_for("the later event worked off", lambda: inbox_rows(service, id="evt_after_live", state="ignored"))

    assert response.status_code == 200
    row = inbox_row(service, "evt_live_1")
    assert row is not None and row.state == "livemode_mismatch" and row.attempts == 0
    assert metric(service, "paywire_webhooks_livemode_mismatch_total") == before + 1
    with service.sessions() as session:
        from paywire.db.repositories import test_clocks

        mirrored = test_clocks.find(session, clock.id)
    assert mirrored is not None and mirrored.frozen_time == 1_900_000_000


def test_an_event_in_another_api_version_is_stored_and_counted(service: Service) -> None:
    payload = event_payload("evt_old_version", "customer.updated", api_version="2020-08-27")
    before = metric(service, "paywire_webhooks_api_version_mismatch_total", api_version="2020-08-27")

    response = post_webhook(service, payload, sign(payload, secret_of(service)))

    assert response.status_code == 200
    row = inbox_row(service, "evt_old_version")
    assert row is not None and row.api_version == "2020-08-27" and row.state == "pending"
    assert metric(service, "paywire_webhooks_api_version_mismatch_total", api_version="2020-08-27") == before + 1


def test_during_a_secret_rotation_either_secret_verifies(
    make_paywire_service: Callable[..., Service], sim: Sim
) -> None:
    old = "whsec_old_secret_being_rotated_out"
    new = "whsec_new_secret_being_rotated_in"
    service = make_paywire_service(with_worker=False, STRIPE_WEBHOOK_SECRET=f"{old}, {new}")

    signed = {}
    for name, secret in (("old", old), ("new", new)):
        payload = event_payload(f"evt_rotation_{name}", "customer.updated")
        signed[name] = post_webhook(service, payload, sign(payload, secret)).status_code
    # Stripe signs with both secrets during a rotation: two v1 entries in one header.
    both = event_payload("evt_rotation_both", "customer.updated")
    timestamp = int(time.time())
    header = sign(both, old, timestamp) + "," + sign(both, new, timestamp).split(",")[1]
    signed["both"] = post_webhook(service, both, header).status_code
    other = event_payload("evt_rotation_other", "customer.updated")
    signed["other"] = post_webhook(service, other, sign(other, "whsec_a_third_secret")).status_code

    assert signed == {"old": 200, "new": 200, "both": 200, "other": 400}
    assert sorted(r.id for r in inbox_rows(service)) == [
        "evt_rotation_both",
        "evt_rotation_new",
        "evt_rotation_old",
    ]


def _serve_with_database(serve_app: Callable[[Any], httpx.Client], sim: Sim, database_url: str) -> httpx.Client:
    settings = load_settings(
        STRIPE_SECRET_KEY=TEST_KEY,
        STRIPE_WEBHOOK_SECRET="whsec_database_down_test",
        STRIPE_API_BASE=sim.url,
        DATABASE_URL=database_url,
        PAYWIRE_AUTH_SECRET=AUTH_SECRET,
        _env_file=None,
    )
    return serve_app(create_app(settings))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_database_down_answers_503_so_stripe_retries(
    serve_app: Callable[[Any], httpx.Client], sim: Sim, tmp_path: Path, backend: str
) -> None:
    if backend == "sqlite":
        # A database file in a directory that does not exist (yet): SQLite cannot open it.
        url = f"sqlite:///{tmp_path}/not-yet/paywire.sqlite3"
    else:
        url = "postgresql+psycopg://postgres@127.0.0.1:1/unreachable?connect_timeout=2"
    http = _serve_with_database(serve_app, sim, url)
    payload = event_payload("evt_db_down", "customer.updated")
    headers = {"stripe-signature": sign(payload, "whsec_database_down_test")}

    response = http.post("/webhooks/stripe", content=payload, headers=headers)

    assert response.status_code == 503
    assert response.headers["retry-after"]
    if backend == "sqlite":
        # The database comes back; Stripe's next delivery is stored.
        (tmp_path / "not-yet").mkdir()
        upgrade_to_head(url)
        retried = http.post("/webhooks/stripe", content=payload, headers=headers)
        assert retried.status_code == 200 and retried.json() == {"received": True}


def test_concurrent_deliveries_are_all_stored_once_while_the_worker_runs(
    make_paywire_service: Callable[..., Service],
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    service = make_paywire_service()  # with its worker, competing for the database
    secret = secret_of(service)
    payloads = [event_payload(f"evt_load_{n:03d}", "paywire.test.load") for n in range(150)]
    # Every event twice, interleaved, as Stripe's at-least-once delivery may do.
    deliveries = [(p, sign(p, secret)) for p in payloads] * 2

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda d: post_webhook(service, *d).status_code, deliveries))

    assert statuses == [200] * len(deliveries)

    def worked_off() -> list[Any]:
        rows = inbox_rows(service, type="paywire.test.load")
        return rows if len(rows) == 150 and all(r.state == "ignored" for r in rows) else []

    done = wait_for("all worked off", worked_off)
    assert {r.attempts for r in done} == {1}
