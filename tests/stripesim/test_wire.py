"""Stripe's wire protocol as a client sees it: auth, errors, idempotency, lists, expansion,
rate limiting and persistence across restarts (real processes, real HTTP)."""

from __future__ import annotations

import base64
import signal
import time
from pathlib import Path

import httpx
import pytest
import stripe

from tests.stripesim.waiting import wait_until
from tests.support.processes import Process, free_port, python_module, wait_http
from tests.support.stripesim import TEST_KEY, Sim

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}


def post(sim: Sim, path: str, data: dict[str, str] | None = None, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{sim.url}{path}",
        data=data or {},
        headers={**AUTH, **headers},
        trust_env=False,
        timeout=10,
    )


def get(sim: Sim, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(
        f"{sim.url}{path}",
        headers=AUTH if headers is None else headers,
        trust_env=False,
        timeout=10,
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer pk_test_publishable_key"},
        {"Authorization": "Bearer sk_live_real_key_123456"},
        {"Authorization": "Token sk_test_whatever"},
        {"Authorization": "Basic " + base64.b64encode(b"not_a_key:").decode()},
        {"Authorization": "Basic !!!not-base64"},
    ],
    ids=[
        "missing",
        "empty-bearer",
        "publishable",
        "live",
        "wrong-scheme",
        "basic-bad-key",
        "basic-garbage",
    ],
)
def test_missing_or_malformed_key_is_401(sim: Sim, headers: dict[str, str]) -> None:
    r = get(sim, "/v1/customers", headers)
    assert r.status_code == 401
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"]
    assert r.headers["request-id"].startswith("req_")


def test_basic_auth_with_a_test_key(sim: Sim) -> None:
    token = base64.b64encode(f"{TEST_KEY}:".encode()).decode()
    r = get(sim, "/v1/customers", {"Authorization": f"Basic {token}"})
    assert r.status_code == 200 and r.json()["object"] == "list"


def test_sdk_raises_authentication_error(sim: Sim) -> None:
    client = stripe.StripeClient("sk_live_not_in_test_mode", base_addresses={"api": sim.url})
    with pytest.raises(stripe.AuthenticationError) as info:
        client.v1.customers.list()
    assert info.value.http_status == 401


def test_the_401_for_a_key_says_which_keys_are_accepted(sim: Sim) -> None:
    # A short made-up key gets 401 (as on Stripe), and the message now says the rule it breaks
    # (it used to say that any sk_test_ key is accepted).
    for key in ("sk_test_abcd", "rk_test_1234", TEST_KEY):
        assert stripe.StripeClient(key, base_addresses={"api": sim.url}).v1.customers.list().object == "list"
    r = get(sim, "/v1/customers", {"Authorization": "Bearer sk_test_x"})
    assert r.status_code == 401 and "of at least 12 characters" in r.json()["error"]["message"]


def test_resource_missing_shape(sim: Sim) -> None:
    r = get(sim, "/v1/customers/cus_nope")
    assert r.status_code == 404
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "resource_missing"
    assert error["param"] == "id" and "cus_nope" in error["message"]
    assert error["doc_url"].endswith("resource-missing")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/nonsense"), ("POST", "/v1/accounts"), ("DELETE", "/v1/events/evt_1")],
)
def test_unknown_route_is_404_not_a_fake_success(sim: Sim, method: str, path: str) -> None:
    r = httpx.request(method, f"{sim.url}{path}", headers=AUTH, trust_env=False)
    assert r.status_code == 404
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert f"Unrecognized request URL ({method}: {path})" in error["message"]


def test_invalid_param_names_the_param(sim: Sim) -> None:
    r = post(sim, "/v1/customers", {"emali": "x@example.com"})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "emali"
    assert "unknown parameter" in r.json()["error"]["message"]


def test_request_id_and_version_headers(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    r = get(sim, "/v1/customers")
    assert r.headers["request-id"].startswith("req_")
    assert r.headers["stripe-version"] == stripe.api_version
    cus = stripe_client.v1.customers.create()
    assert cus.last_response is not None
    assert cus.last_response.request_id.startswith("req_")


def test_idempotent_replay(sim: Sim) -> None:
    first = post(sim, "/v1/customers", {"email": "i@example.com"}, **{"Idempotency-Key": "k1"})
    again = post(sim, "/v1/customers", {"email": "i@example.com"}, **{"Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(get(sim, "/v1/customers").json()["data"]) == 1


def test_same_key_other_params_is_idempotency_error(sim: Sim) -> None:
    post(sim, "/v1/customers", {"email": "a@example.com"}, **{"Idempotency-Key": "k2"})
    r = post(sim, "/v1/customers", {"email": "b@example.com"}, **{"Idempotency-Key": "k2"})
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "idempotency_error"
    r = post(sim, "/v1/products", {"name": "x"}, **{"Idempotency-Key": "k2"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "idempotency_error"


def test_sdk_idempotency_key(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    options = {"idempotency_key": "user-42-customer"}
    a = stripe_client.v1.customers.create(params={"email": "s@example.com"}, options=options)  # type: ignore[arg-type]
    b = stripe_client.v1.customers.create(params={"email": "s@example.com"}, options=options)  # type: ignore[arg-type]
    assert a.id == b.id
    assert b.last_response is not None
    assert b.last_response.headers["idempotent-replayed"] == "true"
    with pytest.raises(stripe.IdempotencyError):
        stripe_client.v1.customers.create(params={"email": "other@example.com"}, options=options)  # type: ignore[arg-type]


def test_a_failed_request_is_not_replayed(sim: Sim) -> None:
    bad = post(sim, "/v1/customers", {"bogus": "1"}, **{"Idempotency-Key": "k3"})
    assert bad.status_code == 400
    # Stripe does not keep the result of a request rejected before it ran.
    fixed = post(sim, "/v1/customers", {"email": "ok@example.com"}, **{"Idempotency-Key": "k4"})
    assert fixed.status_code == 200


def test_events_pagination_and_type_filter(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    customers = [stripe_client.v1.customers.create().id for _ in range(7)]
    stripe_client.v1.products.create(params={"name": "P"})
    events = stripe_client.v1.events.list(params={"limit": 100}).data
    assert [e.type for e in events] == ["product.created"] + ["customer.created"] * 7
    first = stripe_client.v1.events.list(params={"type": "customer.created", "limit": 3})
    assert first.has_more and len(first.data) == 3
    assert [e.data.object.id for e in first.data] == customers[::-1][:3]
    second = stripe_client.v1.events.list(
        params={"type": "customer.created", "limit": 3, "starting_after": first.data[-1].id}
    )
    assert [e.data.object.id for e in second.data] == customers[::-1][3:6] and second.has_more
    last = stripe_client.v1.events.list(
        params={"type": "customer.created", "limit": 3, "starting_after": second.data[-1].id}
    )
    assert [e.data.object.id for e in last.data] == customers[:1] and not last.has_more
    back = stripe_client.v1.events.list(
        params={"type": "customer.created", "limit": 2, "ending_before": second.data[0].id}
    )
    assert [e.id for e in back.data] == [e.id for e in first.data[1:]] and back.has_more
    everything = stripe_client.v1.events.list(params={"type": "customer.*", "limit": 2})
    assert len(list(everything.auto_paging_iter())) == 7
    assert stripe_client.v1.events.list(params={"type": "invoice.paid"}).data == []
    both = stripe_client.v1.events.list(params={"types": ["product.created", "customer.created"]})
    assert len(both.data) == 8


def test_list_parameter_errors(sim: Sim) -> None:
    for query, param in (
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("starting_after=cus_nope", "starting_after"),
        ("starting_after=a&ending_before=b", "ending_before"),
    ):
        r = get(sim, f"/v1/customers?{query}")
        assert r.status_code == 400 and r.json()["error"]["param"] == param, query


def test_expand_on_objects_and_lists(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    product = stripe_client.v1.products.create(params={"name": "Pro"})
    price = stripe_client.v1.prices.create(params={"product": product.id, "currency": "usd", "unit_amount": 100})
    one = stripe_client.v1.prices.retrieve(price.id, params={"expand": ["product"]})
    assert one.product.name == "Pro"
    assert isinstance(stripe_client.v1.prices.retrieve(price.id).product, str)
    many = stripe_client.v1.prices.list(params={"expand": ["data.product"]})
    assert many.data[0].product.id == product.id
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.prices.list(params={"expand": ["product"]})
    assert info.value.param == "expand" and "data.product" in str(info.value.user_message)
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.prices.retrieve(price.id, params={"expand": ["nothing_here"]})
    cus = stripe_client.v1.customers.create()
    coupon = stripe_client.v1.coupons.create(params={"percent_off": 5})
    promo = stripe_client.v1.promotion_codes.create(
        params={
            "promotion": {"type": "coupon", "coupon": coupon.id},
            "customer": cus.id,
            "expand": ["customer", "promotion.coupon"],
        }
    )
    assert promo.customer.id == cus.id and promo.promotion.coupon.percent_off == 5


def test_rate_limit_answers_429(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    # The limiter's clock stopped, so what a burst gets does not depend on how fast it is sent:
    # 5 tokens to start, none refilled: exactly the first 5 of 20 pass.
    sim.control("config", {"rate_limit_per_s": 5, "rate_limit_refill": False})
    responses = [get(sim, "/v1/customers") for _ in range(20)]
    assert [r.status_code for r in responses] == [200] * 5 + [429] * 15
    assert responses[-1].json()["error"]["code"] == "rate_limit"
    assert responses[-1].headers["retry-after"] == "1"
    with pytest.raises(stripe.RateLimitError):
        stripe_client.v1.customers.list()
    # With the clock running the bucket refills: a request is let through again (at 5/s, within
    # a fifth of a second; the deadline only bounds a failure).
    sim.control("config", {"rate_limit_refill": True})
    wait_until(lambda: get(sim, "/v1/customers").status_code == 200)
    sim.control("config", {"rate_limit_per_s": 0})
    assert all(get(sim, "/v1/customers").status_code == 200 for _ in range(30))


def _start(state_file: Path, log: Path) -> tuple[Process, str]:
    port = free_port()
    process = Process(python_module("stripesim.cli", "--port", str(port), "--state-file", str(state_file)), log)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/_sim/health", proc=process.proc)
    return process, url


@pytest.mark.e2e  # starts stripesim itself
def test_state_file_survives_a_restart(tmp_path: Path) -> None:
    state_file = tmp_path / "stripesim.json"
    process, url = _start(state_file, tmp_path / "first.log")
    try:
        client = stripe.StripeClient(TEST_KEY, base_addresses={"api": url}, max_network_retries=0)
        cus = client.v1.customers.create(params={"email": "keep@example.com", "metadata": {"u": "1"}})
        coupon = client.v1.coupons.create(params={"percent_off": 15, "id": "KEEP15"})
        meter = client.v1.billing.meters.create(
            params={
                "display_name": "M",
                "event_name": "kept",
                "default_aggregation": {"formula": "sum"},
            }
        )
        now = int(time.time())
        client.v1.billing.meter_events.create(
            params={
                "event_name": "kept",
                "payload": {"stripe_customer_id": cus.id, "value": "4"},
                "identifier": "once",
                "timestamp": now,
            }
        )
    finally:
        process.stop(signal.SIGTERM)
    # uvicorn re-raises the SIGTERM it handled after a graceful shutdown, so -15 is normal.
    assert process.proc.returncode in (0, -signal.SIGTERM), process.output()
    assert state_file.exists(), process.output()

    process, url = _start(state_file, tmp_path / "second.log")
    try:
        client = stripe.StripeClient(TEST_KEY, base_addresses={"api": url}, max_network_retries=0)
        again = client.v1.customers.retrieve(cus.id)
        assert again.email == "keep@example.com" and again.metadata["u"] == "1"
        assert client.v1.coupons.retrieve("KEEP15").percent_off == 15
        assert coupon.id == "KEEP15"
        assert [e.type for e in client.v1.events.list().data][-1] == "customer.created"
        start = now - now % 60
        summary = client.v1.billing.meters.event_summaries.list(
            meter.id, params={"customer": cus.id, "start_time": start, "end_time": start + 120}
        )
        assert summary.data[0].aggregated_value == 4
        with pytest.raises(stripe.InvalidRequestError):  # the identifier is still remembered
            client.v1.billing.meter_events.create(
                params={
                    "event_name": "kept",
                    "payload": {"stripe_customer_id": cus.id, "value": "4"},
                    "identifier": "once",
                }
            )
        client.v1.customers.create(params={"email": "second@example.com"})
    finally:
        process.stop(signal.SIGTERM)
    process, url = _start(state_file, tmp_path / "third.log")
    try:
        emails = [c["email"] for c in httpx.get(f"{url}/v1/customers", headers=AUTH, trust_env=False).json()["data"]]
        assert emails == ["second@example.com", "keep@example.com"]
    finally:
        process.stop(signal.SIGTERM)
