"""Webhook delivery as Stripe does it, verified by the SDK at a real local endpoint, and
every fault of /_sim/faults (webhook and API)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import stripe

from tests.stripesim.waiting import wait_until
from tests.stripesim.webhook_receiver import Receiver
from tests.support.stripesim import Sim


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def endpoint(client: stripe.StripeClient, receiver: Receiver, path: str, events: list[str]) -> stripe.WebhookEndpoint:
    we = client.v1.webhook_endpoints.create(params={"url": receiver.url + path, "enabled_events": events})
    assert we.secret and we.secret.startswith("whsec_")
    receiver.secrets[path] = we.secret
    return we


def attempts(sim: Sim) -> list[dict[str, object]]:
    return sim.get("webhooks/attempts")["data"]


def nothing_pending(sim: Sim) -> bool:
    """No delivery is queued or in flight: every one scheduled so far has been attempted and logged."""
    return sim.get("webhooks/attempts")["pending"] == 0


def test_deliveries_are_signed_as_the_sdk_expects(
    sim: Sim, stripe_client: stripe.StripeClient, receiver: Receiver
) -> None:
    we = endpoint(stripe_client, receiver, "/hook", ["customer.created"])
    assert "secret" not in stripe_client.v1.webhook_endpoints.retrieve(we.id)  # shown once
    cus = stripe_client.v1.customers.create(params={"email": "w@example.com"})
    (delivery,) = receiver.wait_for(1, "/hook")
    assert delivery.error is None and delivery.event is not None
    event = delivery.event
    assert event.type == "customer.created" and event.data.object.id == cus.id
    listed = stripe_client.v1.events.list(params={"type": "customer.created"}).data[0]
    assert listed.id == event.id
    # The signature is bound to secret, body and timestamp: the SDK rejects any change.
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivery.body, delivery.signature, "whsec_wrong")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivery.body + b" ", delivery.signature, we.secret)
    stale = delivery.signature.replace("t=", "t=1", 1)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivery.body, stale, we.secret)
    # The client's own helper agrees.
    assert stripe_client.construct_event(delivery.body, delivery.signature, we.secret).id == event.id


def test_enabled_events_filter_and_wildcard(sim: Sim, stripe_client: stripe.StripeClient, receiver: Receiver) -> None:
    endpoint(stripe_client, receiver, "/only-customers", ["customer.created"])
    endpoint(stripe_client, receiver, "/all", ["*"])
    endpoint(stripe_client, receiver, "/products", ["product.created", "product.updated"])
    stripe_client.v1.customers.create()
    product = stripe_client.v1.products.create(params={"name": "P"})
    stripe_client.v1.products.update(product.id, params={"name": "Q"})
    receiver.wait_for(3, "/all")
    receiver.wait_for(2, "/products")
    wait_until(lambda: nothing_pending(sim))  # a misrouted delivery would have been made by now
    assert [d.event.type for d in receiver.got("/only-customers")] == ["customer.created"]  # type: ignore[union-attr]
    assert sorted(d.event.type for d in receiver.got("/all")) == [  # type: ignore[union-attr]
        "customer.created",
        "product.created",
        "product.updated",
    ]
    assert sorted(d.event.type for d in receiver.got("/products")) == [  # type: ignore[union-attr]
        "product.created",
        "product.updated",
    ]


def test_disabled_endpoint_gets_nothing(sim: Sim, stripe_client: stripe.StripeClient, receiver: Receiver) -> None:
    we = endpoint(stripe_client, receiver, "/off", ["*"])
    stripe_client.v1.webhook_endpoints.update(we.id, params={"disabled": True})
    endpoint(stripe_client, receiver, "/on", ["*"])
    stripe_client.v1.customers.create()
    receiver.wait_for(1, "/on")
    wait_until(lambda: nothing_pending(sim))
    assert receiver.got("/off") == []
    assert [a for a in attempts(sim) if a["endpoint"] == we.id] == []


def test_retries_with_backoff_until_2xx_and_pending_webhooks(
    sim: Sim, stripe_client: stripe.StripeClient, receiver: Receiver
) -> None:
    # Retries 0.5 s, 1 s and 2 s after: the test reads pending_webhooks while they still fail.
    sim.control("config", {"webhook_retry_base_s": 0.5})
    receiver.status_for = lambda path, n: 500 if n < 3 else 200
    endpoint(stripe_client, receiver, "/flaky", ["customer.created"])
    stripe_client.v1.customers.create()
    receiver.wait_for(1, "/flaky")
    event = stripe_client.v1.events.list(params={"type": "customer.created"}).data[0]
    assert stripe_client.v1.events.retrieve(event.id).pending_webhooks == 1
    delivered = receiver.wait_for(4, "/flaky")
    assert {d.event.id for d in delivered} == {event.id}  # type: ignore[union-attr]
    wait_until(lambda: stripe_client.v1.events.retrieve(event.id).pending_webhooks == 0)
    gaps = [b.received_at - a.received_at for a, b in itertools.pairwise(delivered)]
    # 0.5 s, then 1 s, then 2 s: exponential backoff.
    assert gaps[0] >= 0.45 and gaps[1] >= 0.9 and gaps[2] >= 1.8, gaps
    assert gaps[2] > gaps[0]
    log = [a for a in attempts(sim) if a["event"] == event.id]
    assert [a["status"] for a in log] == [500, 500, 500, 200]
    assert [a["attempt"] for a in log] == [1, 2, 3, 4]
    assert [a["ok"] for a in log] == [False, False, False, True]
    assert stripe_client.v1.events.list(params={"delivery_success": True}).data[0].id == event.id


def test_unreachable_endpoint_is_retried(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    sim.control("config", {"webhook_retry_base_s": 0.1})
    from tests.support.processes import free_port

    stripe_client.v1.webhook_endpoints.create(
        params={"url": f"http://127.0.0.1:{free_port()}/nobody", "enabled_events": ["*"]}
    )
    stripe_client.v1.customers.create()
    event = stripe_client.v1.events.list().data[0]
    wait_until(lambda: len([a for a in attempts(sim) if a["event"] == event.id]) >= 3)
    log = [a for a in attempts(sim) if a["event"] == event.id]
    assert all(a["ok"] is False and a["status"] is None and a["error"] for a in log)
    assert event.pending_webhooks == 1
    assert stripe_client.v1.events.list(params={"delivery_success": False}).data[0].id == event.id


def test_slow_endpoint_times_out_and_is_retried(
    sim: Sim, stripe_client: stripe.StripeClient, receiver: Receiver
) -> None:
    sim.control("config", {"webhook_timeout_s": 0.3, "webhook_retry_base_s": 0.1})
    released = threading.Event()

    def first_answer_hangs(path: str, n: int) -> int:
        if n == 0:
            released.wait(timeout=15)  # held until stripesim has given up on it
        return 200

    receiver.status_for = first_answer_hangs
    endpoint(stripe_client, receiver, "/slow", ["customer.created"])
    stripe_client.v1.customers.create()
    wait_until(lambda: any(a["error"] == "ReadTimeout" for a in attempts(sim)))
    released.set()
    receiver.wait_for(2, "/slow")
    wait_until(lambda: any(a["ok"] for a in attempts(sim)))
    log = attempts(sim)
    assert log[0]["ok"] is False and log[0]["error"] == "ReadTimeout"
    assert any(a["ok"] is True for a in log[1:])


def test_retry_now_skips_the_backoff(sim: Sim, stripe_client: stripe.StripeClient, receiver: Receiver) -> None:
    sim.control("config", {"webhook_retry_base_s": 3600})
    receiver.status_for = lambda path, n: 503 if n == 0 else 200
    endpoint(stripe_client, receiver, "/later", ["customer.created"])
    stripe_client.v1.customers.create()
    receiver.wait_for(1, "/later")
    # Once the failed attempt is logged its retry is queued, an hour away, and nothing is in flight.
    wait_until(lambda: len(attempts(sim)) == 1)
    assert len(receiver.got("/later")) == 1  # the retry waits an hour
    assert sim.get("webhooks/attempts")["pending"] == 1  # the retry is waiting
    assert sim.control("webhooks/retry_now")["due"] >= 1
    second = receiver.wait_for(2, "/later", timeout=5)[1]
    assert second.event is not None
    wait_until(lambda: sim.get("webhooks/attempts")["pending"] == 0)


def test_duplicate_rate_delivers_twice(sim: Sim, stripe_client: stripe.StripeClient, receiver: Receiver) -> None:
    sim.control("faults", {"webhooks": {"duplicate_rate": 1.0}})
    assert sim.get("faults")["webhooks"]["duplicate_rate"] == 1.0
    endpoint(stripe_client, receiver, "/dup", ["customer.created"])
    stripe_client.v1.customers.create()
    stripe_client.v1.customers.create()
    got = receiver.wait_for(4, "/dup")
    ids = [d.event.id for d in got]  # type: ignore[union-attr]
    assert len(set(ids)) == 2 and all(ids.count(i) == 2 for i in ids)
    assert sum(1 for a in attempts(sim) if a["duplicate"] and a["event"] in ids) == 2
    # Duplicates do not count against pending_webhooks.
    wait_until(lambda: all(e.pending_webhooks == 0 for e in stripe_client.v1.events.list().data))


def test_reorder_window_shuffles_deliveries(sim: Sim, stripe_client: stripe.StripeClient, receiver: Receiver) -> None:
    sim.control("faults", {"webhooks": {"reorder_window_ms": 1500}})
    endpoint(stripe_client, receiver, "/order", ["customer.created"])
    created = [stripe_client.v1.customers.create().id for _ in range(12)]
    got = receiver.wait_for(12, "/order")
    arrived = [d.event.data.object.id for d in got]  # type: ignore[union-attr]
    assert sorted(arrived) == sorted(created)
    assert arrived != created  # 12 in order by chance: 1 in 479 001 600


def test_delay_ms_holds_every_delivery(sim: Sim, stripe_client: stripe.StripeClient, receiver: Receiver) -> None:
    sim.control("faults", {"webhook_delay_ms": 700})  # the flat form works too
    endpoint(stripe_client, receiver, "/slow", ["customer.created"])
    sent = time.time()
    stripe_client.v1.customers.create()
    (delivery,) = receiver.wait_for(1, "/slow")
    assert delivery.received_at - sent >= 0.65


def test_fail_first_fails_attempts_without_a_request(
    sim: Sim, stripe_client: stripe.StripeClient, receiver: Receiver
) -> None:
    sim.control("config", {"webhook_retry_base_s": 0.1})
    sim.control("faults", {"webhooks": {"fail_first": 2}})
    endpoint(stripe_client, receiver, "/ff", ["customer.created"])
    stripe_client.v1.customers.create()
    (delivery,) = receiver.wait_for(1, "/ff")
    assert delivery.event is not None
    log = [a for a in attempts(sim) if a["event"] == delivery.event.id]
    assert [a["ok"] for a in log] == [False, False, True]
    assert all("fail_first" in str(a["error"]) for a in log[:2])
    assert sim.get("faults")["webhooks"]["failed_so_far"] == 2


def test_clear_turns_faults_off(sim: Sim) -> None:
    sim.control("faults", {"api": {"error_500_rate": 0.5}, "webhooks": {"duplicate_rate": 0.5}})
    cleared = sim.control("faults", {"clear": True})
    assert cleared["api"]["error_500_rate"] == 0 and cleared["webhooks"]["duplicate_rate"] == 0
    r = httpx.post(f"{sim.url}/_sim/faults", json={"bogus": 1}, trust_env=False)
    assert r.status_code == 400 and r.json()["error"]["param"] == "bogus"


def test_fail_next_500_answers_api_error(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    sim.control("faults", {"api": {"fail_next_500": 2}})
    for _ in range(2):
        with pytest.raises(stripe.APIError) as info:
            stripe_client.v1.customers.list()
        assert info.value.http_status == 500
        assert info.value.error.type == "api_error"
        assert info.value.request_id and info.value.request_id.startswith("req_")
    assert stripe_client.v1.customers.list().data == []


def test_fail_next_429_answers_rate_limit(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    sim.control("faults", {"api": {"fail_next_429": 1}})
    with pytest.raises(stripe.RateLimitError) as info:
        stripe_client.v1.customers.create()
    # The SDK keeps no `code` on RateLimitError; the body has Stripe's shape.
    assert info.value.http_status == 429
    assert info.value.error.code == "rate_limit"
    assert info.value.error.type == "invalid_request_error"
    stripe_client.v1.customers.create()


def test_fail_next_409_answers_lock_timeout_and_the_sdk_retries_it(
    sim: Sim, stripe_client: stripe.StripeClient
) -> None:
    sim.control("faults", {"api": {"fail_next_409": 1}})
    with pytest.raises(stripe.APIError) as info:
        stripe_client.v1.customers.create()
    assert info.value.http_status == 409
    assert info.value.error.code == "lock_timeout"
    sim.control("faults", {"api": {"fail_next_409": 1}})
    retrying = sim.client(max_network_retries=2)
    assert retrying.v1.customers.create().id.startswith("cus_")
    assert len(stripe_client.v1.customers.list().data) == 1


def test_api_delay_makes_a_client_time_out(sim: Sim) -> None:
    sim.control("faults", {"api": {"delay_ms": 1500}})
    impatient = stripe.StripeClient(
        "sk_test_delay_test_key",
        base_addresses={"api": sim.url},
        http_client=stripe.HTTPXClient(timeout=0.3, allow_sync_methods=True),
    )
    with pytest.raises(stripe.APIConnectionError):
        impatient.v1.customers.list()
    sim.control("faults", {"clear": True})
    # Answered again once cleared (asked with a patient client: 0.3 s is no bound for a loaded machine).
    patient = stripe.StripeClient(
        "sk_test_delay_test_key",
        base_addresses={"api": sim.url},
        http_client=stripe.HTTPXClient(allow_sync_methods=True),
    )
    assert patient.v1.customers.list().data == []


@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [("error_500_rate", stripe.APIError, 500), ("error_429_rate", stripe.RateLimitError, 429)],
)
def test_error_rates(
    sim: Sim,
    stripe_client: stripe.StripeClient,
    fault: str,
    error: type[stripe.StripeError],
    status: int,
) -> None:
    sim.control("faults", {"api": {fault: 1.0}})
    for _ in range(5):
        with pytest.raises(error) as info:
            stripe_client.v1.customers.create()
        assert info.value.http_status == status
    sim.control("faults", {"api": {fault: 0.3}})
    outcomes = []
    for _ in range(60):
        try:
            stripe_client.v1.customers.list(params={"limit": 1})
            outcomes.append(True)
        except error:
            outcomes.append(False)
    assert 3 <= outcomes.count(False) <= 40, outcomes.count(False)  # ~18 expected
    # Nothing was created by the failed calls.
    sim.control("faults", {"clear": True})
    assert stripe_client.v1.customers.list().data == []


def test_sdk_retries_a_500_when_told_to(sim: Sim) -> None:
    client = sim.client(max_network_retries=2)
    sim.control("faults", {"api": {"fail_next_500": 1}})
    assert client.v1.customers.create().id.startswith("cus_")
    assert len(client.v1.customers.list().data) == 1  # the retry did not create twice


def test_an_endpoint_for_an_event_type_stripe_does_not_send_is_refused(stripe_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.webhook_endpoints.create(
            params={"url": "http://127.0.0.1:9/hook", "enabled_events": ["customer.created", "payment_intent.updated"]}
        )
    assert info.value.param == "enabled_events[1]" and "payment_intent.updated" in str(info.value.user_message)
