from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
import stripe

from paywire.metrics import STRIPE_API_ERRORS
from paywire.stripe import (
    PINNED_API_VERSION,
    CardDeclined,
    StripeGateway,
    StripeIdempotencyConflict,
    StripeMisconfigured,
    StripeNotFound,
    StripeRejected,
    StripeUnavailable,
    WebhookSignatureInvalid,
    verify_webhook,
)
from paywire.stripe import idempotency as keys
from paywire.stripe.gateway import http_client, translate
from tests.support.processes import free_port
from tests.support.stripesim import TEST_KEY, Sim


def _errors(kind: str) -> float:
    return STRIPE_API_ERRORS.labels(type=kind)._value.get()


def test_the_api_version_is_pinned() -> None:
    assert PINNED_API_VERSION == stripe.api_version == "2026-10-28.endive"


def test_a_created_customer_carries_the_user_id(gateway: StripeGateway, stripe_client: stripe.StripeClient) -> None:
    created = gateway.create_customer(
        user_id="u-1", email="u1@example.com", idempotency_key=keys.customer_create("u-1")
    )
    assert isinstance(created, dict)
    fetched = stripe_client.v1.customers.retrieve(created["id"])
    assert fetched.metadata["user_id"] == "u-1"
    assert fetched.email == "u1@example.com"


def test_the_same_business_key_creates_one_customer(gateway: StripeGateway, stripe_client: stripe.StripeClient) -> None:
    key = keys.customer_create("u-2")
    first = gateway.create_customer(user_id="u-2", email="a@x.io", idempotency_key=key)
    second = gateway.create_customer(user_id="u-2", email="a@x.io", idempotency_key=key)
    assert first["id"] == second["id"]
    assert len(stripe_client.v1.customers.list().data) == 1


def test_a_key_reused_with_other_parameters_is_a_conflict(gateway: StripeGateway) -> None:
    key = keys.customer_create("u-3")
    gateway.create_customer(user_id="u-3", email="a@x.io", idempotency_key=key)
    with pytest.raises(StripeIdempotencyConflict):
        gateway.create_customer(user_id="u-3", email="b@x.io", idempotency_key=key)


def test_429_is_retried_with_backoff(
    sim: Sim, gateway: StripeGateway, sleeps: list[float], stripe_client: stripe.StripeClient
) -> None:
    before = _errors("rate_limit")
    sim.control("faults", {"api": {"fail_next_429": 2}})
    created = gateway.create_customer(user_id="u-4", email=None, idempotency_key=keys.customer_create("u-4"))
    assert created["id"].startswith("cus_")
    assert len(sleeps) == 2
    assert sleeps[1] > sleeps[0] * 0.9  # grows (with jitter)
    assert _errors("rate_limit") - before == 2
    assert len(stripe_client.v1.customers.list().data) == 1


def test_429_that_does_not_stop_becomes_unavailable(sim: Sim, gateway: StripeGateway, sleeps: list[float]) -> None:
    sim.control("faults", {"api": {"fail_next_429": 10}})
    with pytest.raises(StripeUnavailable, match="rate limit"):
        gateway.retrieve_customer("cus_whatever")
    assert len(sleeps) == 3  # rate_limit_retries of the fixture


def test_unknown_objects_are_not_found(gateway: StripeGateway) -> None:
    before = _errors("not_found")
    with pytest.raises(StripeNotFound):
        gateway.retrieve_subscription("sub_missing")
    assert gateway.retrieve_product("prod_missing") is None
    assert _errors("not_found") - before == 2


def test_invalid_parameters_are_rejected_naming_the_param(gateway: StripeGateway) -> None:
    with pytest.raises(StripeRejected) as error:
        gateway.create_price(
            product_id="prod_missing",
            lookup_key="x",
            unit_amount=100,
            currency="usd",
            interval="fortnight",
            metadata={},
            transfer_lookup_key=False,
            idempotency_key="test:bad-price",
        )
    assert error.value.param is not None


def test_a_refused_key_is_misconfiguration(sim: Sim) -> None:
    gateway = StripeGateway("sk_test_x", api_base=sim.url, max_network_retries=0)
    with pytest.raises(StripeMisconfigured):
        gateway.retrieve_customer("cus_1")


def test_an_unreachable_stripe_is_unavailable() -> None:
    gateway = StripeGateway(TEST_KEY, api_base=f"http://127.0.0.1:{free_port()}", max_network_retries=0, timeout=2)
    with pytest.raises(StripeUnavailable):
        gateway.retrieve_customer("cus_1")


def test_5xx_is_unavailable(sim: Sim, gateway: StripeGateway) -> None:
    sim.control("faults", {"api": {"fail_next_500": 1}})
    with pytest.raises(StripeUnavailable):
        gateway.retrieve_customer("cus_1")


def test_network_retries_absorb_a_single_5xx(sim: Sim) -> None:
    gateway = StripeGateway(TEST_KEY, api_base=sim.url, max_network_retries=2)
    sim.control("faults", {"api": {"fail_next_500": 1}})
    created = gateway.create_customer(user_id="u-5", email=None, idempotency_key="k-u-5")
    assert created["id"].startswith("cus_")


def test_card_errors_become_card_declined() -> None:
    error = stripe.CardError(
        "Your card has insufficient funds.",
        "payment_method",
        "card_declined",
        json_body={"error": {"type": "card_error", "decline_code": "insufficient_funds"}},
    )
    translated = translate(error)
    assert isinstance(translated, CardDeclined)
    assert translated.code == "card_declined"
    assert translated.decline_code == "insufficient_funds"


def test_lookup_keys_are_listed_in_chunks(gateway: StripeGateway, sim: Sim) -> None:
    client = sim.client()
    client.v1.products.create(params={"id": "prod_many", "name": "Many"})
    wanted = [f"key_{i:02d}" for i in range(23)]
    for key in wanted:
        client.v1.prices.create(
            params={
                "product": "prod_many",
                "currency": "usd",
                "unit_amount": 100,
                "lookup_key": key,
            }
        )
    found = gateway.list_prices_by_lookup_keys([*wanted, "absent"])
    assert sorted(found) == wanted
    assert found["key_07"]["product"]["id"] == "prod_many"  # expanded


def _sign(payload: bytes, secret: str, at: int | None = None) -> str:
    t = at if at is not None else int(time.time())
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def test_webhooks_verify_against_any_rotating_secret() -> None:
    event = {"id": "evt_1", "object": "event", "type": "customer.created", "data": {"object": {}}}
    payload = json.dumps(event).encode()
    header = _sign(payload, "whsec_new")
    verified = verify_webhook(payload, header, ["whsec_old", "whsec_new"])
    assert verified["id"] == "evt_1"
    with pytest.raises(WebhookSignatureInvalid):
        verify_webhook(payload, header, ["whsec_old"])
    with pytest.raises(WebhookSignatureInvalid):
        verify_webhook(payload, _sign(payload, "whsec_new", int(time.time()) - 3600), ["whsec_new"])
    with pytest.raises(WebhookSignatureInvalid):
        verify_webhook(payload, None, ["whsec_new"])
    with pytest.raises(WebhookSignatureInvalid):
        verify_webhook(payload + b" ", header, ["whsec_new"])


def test_idempotency_keys_name_the_operation() -> None:
    assert keys.customer_create("u1") == "customer:create:u1"
    assert keys.checkout_subscription("u1", "pro", "month", 3, 42) == "checkout:u1:pro:month:3:42:"
    long_key = keys.customer_create("u" * 400)
    assert len(long_key) <= 255 and long_key.startswith("customer:create:sha256:")
    assert keys.time_bucket(1199) == keys.time_bucket(600) != keys.time_bucket(1200)


def test_results_are_plain_json_ready_dicts(gateway: StripeGateway, sim: Sim) -> None:
    client = sim.client()
    client.v1.products.create(params={"id": "prod_dec", "name": "Decimal"})
    client.v1.prices.create(params={"product": "prod_dec", "currency": "usd", "unit_amount": 1234, "lookup_key": "dec"})
    price = gateway.list_prices_by_lookup_keys(["dec"])["dec"]
    assert price["unit_amount_decimal"] == "1234"  # a string, as on the wire: not a Decimal
    assert json.loads(json.dumps(price))["product"]["id"] == "prod_dec"


def test_the_proxy_for_stripe_comes_from_the_environment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")

    through_proxy = http_client("https://api.stripe.com", 5.0)
    monkeypatch.setenv("NO_PROXY", "stripe.com")
    direct = http_client("https://api.stripe.com", 5.0)

    assert through_proxy._proxy == {"https": "http://proxy.internal:3128"}
    assert direct._proxy is None
    # Requests no longer consults the environment per request (proxies, ~/.netrc): what it
    # found is fixed for the client's life.
    assert through_proxy._session is not None and through_proxy._session.trust_env is False


def test_a_gateway_still_reaches_stripe_through_its_session(sim: Sim) -> None:
    gateway = StripeGateway(TEST_KEY, api_base=sim.url)
    created = gateway.create_customer(user_id="u-proxyless", email=None, idempotency_key="k-proxyless")

    assert gateway.retrieve_customer(created["id"])["metadata"] == {"user_id": "u-proxyless"}
