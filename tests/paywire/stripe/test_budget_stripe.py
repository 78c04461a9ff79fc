"""The request budget against stripesim enforcing Stripe's rate limit: a 429 (with
`Stripe-Should-Retry`) slows every caller down instead of failing their work."""

from __future__ import annotations

import threading

import httpx
import pytest

from paywire.metrics import STRIPE_RATE_LIMITED
from paywire.stripe import Kind, StripeGateway
from paywire.stripe.budget import BudgetExhausted, MemoryStore, RequestBudget
from tests.support.stripesim import TEST_KEY, Sim

STRIPE_LIMIT = 4.0  # stripesim's, per key
TOO_HIGH = 12.0  # a budget set above what Stripe allows


def test_a_429_shrinks_the_budget_for_everyone_instead_of_failing_work(sim: Sim) -> None:
    client = sim.client()
    customers = [client.v1.customers.create().id for _ in range(3)]
    sim.control("config", {"rate_limit_per_s": STRIPE_LIMIT})
    budget = RequestBudget(TOO_HIGH, MemoryStore())
    gateway = StripeGateway(TEST_KEY, api_base=sim.url, max_network_retries=2, rate_limit_retries=8, budget=budget)
    limited_before = sum(STRIPE_RATE_LIMITED.labels(priority=p)._value.get() for p in ("interactive", "mirror"))
    failures: list[BaseException] = []

    def reads(customer_id: str) -> None:
        try:
            for _ in range(8):
                assert gateway.retrieve(Kind.CUSTOMER, customer_id)["id"] == customer_id
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=reads, args=(customer,)) for customer in customers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == [], "every read went through, however many 429s it met"
    limited = sum(STRIPE_RATE_LIMITED.labels(priority=p)._value.get() for p in ("interactive", "mirror"))
    assert limited > limited_before, "Stripe did answer 429 to a budget set too high"
    assert budget.rate_now() <= TOO_HIGH / 2, "the 429s shrank the budget"
    answered = [entry for entry in sim.get("requests")["data"] if entry[3].startswith("/v1/customers/")]
    assert len([e for e in answered if e[4] == 200]) == 24
    statuses = [e[4] for e in answered]
    last_429 = max(i for i, status in enumerate(statuses) if status == 429)
    assert statuses[last_429 + 1 :] and set(statuses[last_429 + 1 :]) == {200}, "then the shrunk budget was kept"


def test_stripesim_answers_429_as_stripe_does(sim: Sim) -> None:
    sim.control("config", {"rate_limit_per_s": 1, "rate_limit_refill": False})
    client = sim.client()
    client.v1.customers.list()
    response = httpx.get(f"{sim.url}/v1/customers", headers={"Authorization": f"Bearer {TEST_KEY}"}, trust_env=False)
    assert response.status_code == 429
    assert response.headers["stripe-should-retry"] == "true"
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "rate_limit")
    assert error["message"].startswith("Too many requests hit the API too quickly.")


def test_a_person_who_would_wait_too_long_for_a_slot_hears_so_and_nothing_is_sent(sim: Sim) -> None:
    """The budget waits in the SDK's transport, which wraps whatever is raised there as a
    connection error (and could retry it): the gateway raises the budget's own error, once."""
    customer = sim.client().v1.customers.create().id
    budget = RequestBudget(1.0, MemoryStore(), max_wait=0.2)  # a slot every 2 s, a person waits 0.2 s
    gateway = StripeGateway(TEST_KEY, api_base=sim.url, max_network_retries=2, budget=budget)
    gateway.retrieve(Kind.CUSTOMER, customer)

    with pytest.raises(BudgetExhausted, match="request budget is booked"):
        gateway.retrieve(Kind.CUSTOMER, customer)
    reads = [e for e in sim.get("requests")["data"] if e[3] == f"/v1/customers/{customer}"]
    assert len(reads) == 1, "the second read never left"
