"""How every request reaches Stripe (`paywire.stripe.client`): the pinned version, retries on
429 and network errors, typed errors, the proxy looked up once."""

from __future__ import annotations

import pytest
import stripe

from paywire.metrics import STRIPE_API_ERRORS
from paywire.stripe import (
    PINNED_API_VERSION,
    CardDeclined,
    Kind,
    StripeGateway,
    StripeMisconfigured,
    StripeUnavailable,
)
from paywire.stripe import idempotency as keys
from paywire.stripe.client import http_client, translate
from tests.support.processes import free_port
from tests.support.stripesim import TEST_KEY, Sim


def _errors(kind: str) -> float:
    return STRIPE_API_ERRORS.labels(type=kind)._value.get()


def test_the_api_version_is_pinned() -> None:
    assert PINNED_API_VERSION == stripe.api_version == "2026-10-28.endive"


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
        gateway.retrieve(Kind.CUSTOMER, "cus_whatever")
    assert len(sleeps) == 3  # rate_limit_retries of the fixture


def test_a_refused_key_is_misconfiguration(sim: Sim) -> None:
    gateway = StripeGateway("sk_test_x", api_base=sim.url, max_network_retries=0)
    with pytest.raises(StripeMisconfigured):
        gateway.retrieve(Kind.CUSTOMER, "cus_1")


def test_an_unreachable_stripe_is_unavailable() -> None:
    gateway = StripeGateway(TEST_KEY, api_base=f"http://127.0.0.1:{free_port()}", max_network_retries=0, timeout=2)
    with pytest.raises(StripeUnavailable):
        gateway.retrieve(Kind.CUSTOMER, "cus_1")


def test_5xx_is_unavailable(sim: Sim, gateway: StripeGateway) -> None:
    sim.control("faults", {"api": {"fail_next_500": 1}})
    with pytest.raises(StripeUnavailable):
        gateway.retrieve(Kind.CUSTOMER, "cus_1")


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

    assert gateway.retrieve(Kind.CUSTOMER, created["id"])["metadata"] == {"user_id": "u-proxyless"}
