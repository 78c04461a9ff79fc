"""Fixtures for the hosted-page tests: a form-posting HTTP client and a small catalog."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import stripe

from tests.support.billing_world import Catalog, make_catalog
from tests.support.stripesim import Sim


@pytest.fixture
def web(sim: Sim) -> Iterator[httpx.Client]:
    """A browser-like HTTP client on stripesim that does not follow redirects by itself."""
    with httpx.Client(base_url=sim.url, trust_env=False, timeout=30, follow_redirects=False) as client:
        yield client


@pytest.fixture
def catalog(stripe_client: stripe.StripeClient) -> Catalog:
    return make_catalog(stripe_client)
