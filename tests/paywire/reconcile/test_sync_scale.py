"""`paywire sync` at scale: into an empty mirror it asks Stripe for pages and nothing else (no
request per object), its requests are background work for the deployment's budget, and its
report stays the same size however much it finds."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from paywire.catalog import Catalog
from paywire.metrics import STRIPE_REQUESTS
from paywire.reconcile import sync as running
from paywire.reconcile.resources import SyncContext
from paywire.reconcile.sync import sync_mirror
from paywire.stripe import StripeGateway
from paywire.stripe.budget import MemoryStore, RequestBudget
from tests.paywire.conftest import Service
from tests.paywire.events.recovery_support import subscription_drift
from tests.paywire.reconcile.test_sync import make_subscriptions, mirrored_count
from tests.support.stripesim import TEST_KEY, Sim

SUBSCRIPTIONS = 23
PAGE = 10


def requests_by_path(sim: Sim, since: float) -> Counter[str]:
    """Requests the suite's key sent after `since`, by method and path (object ids as `{id}`)."""
    found: Counter[str] = Counter()
    for at, key, method, path, _ in sim.get("requests")["data"]:
        if key == TEST_KEY[-6:] and at > since:
            parts = path.split("/")
            if parts[1] == "v1" and len(parts) > 3:
                path = "/".join(parts[:3]) + "/{id}"
            found[f"{method} {path}"] += 1
    return found


def test_a_sync_into_an_empty_mirror_asks_for_pages_only(
    make_paywire_service: Callable[..., Service], sim: Sim, catalog: Catalog
) -> None:
    service = make_paywire_service(with_worker=False)
    made = make_subscriptions(sim.client(), SUBSCRIPTIONS)
    started = sim.get("requests")["data"][-1][0]
    budget = RequestBudget(1000, MemoryStore())
    gateway = StripeGateway(TEST_KEY, api_base=sim.url, max_network_retries=0, budget=budget)
    background_before = STRIPE_REQUESTS.labels(priority="background")._value.get()

    report = sync_mirror(SyncContext(service.sessions, gateway, catalog, service.settings), page_size=PAGE)

    pages = -(-SUBSCRIPTIONS // PAGE)  # customers, subscriptions and invoices: one of each a subscription
    sent = requests_by_path(sim, started)
    assert sent == {
        "GET /v1/customers": pages,
        "GET /v1/subscriptions": pages,
        "GET /v1/invoices": pages,
        "GET /v1/prices": 1,  # the revenue ledger's backfill reads every price once
        "GET /v2/core/accounts": 1,  # sellers' connected accounts: none here
    }, "no object read on its own"
    assert mirrored_count(service) == SUBSCRIPTIONS
    for subscription_id in made:
        assert subscription_drift(service, sim.client(), subscription_id) == {}
    assert STRIPE_REQUESTS.labels(priority="background")._value.get() - background_before == sum(sent.values())
    assert {part.name: part.list_calls for part in report.resources if part.name != "revenue"} == {
        "customers": pages,
        "subscriptions": pages,
        "invoices": pages,
        "sellers": 1,
    }


def test_the_report_keeps_counts_and_only_the_first_differences(
    make_paywire_service: Callable[..., Service], sim: Sim, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(running, "DRIFT_KEPT", 4)
    service = make_paywire_service(with_worker=False)
    make_subscriptions(sim.client(), 12)
    gateway = StripeGateway(TEST_KEY, api_base=sim.url, max_network_retries=0)
    printed = []

    report = sync_mirror(
        SyncContext(service.sessions, gateway, catalog, service.settings),
        resources=["subscriptions"],
        page_size=5,
        on_drift=printed.append,
    )

    [part] = report.resources
    assert part.drifted == {"missing": 12} and len(printed) == 12, "every difference counted and told"
    assert len(part.drift) == 4 and report.to_repair == 12
    assert all(drift.listed is None for drift in printed), "no Stripe object is held once written"
