"""The handlers' fast tier: each event type's module against its captured fixture, on a real
database (SQLite, and PostgreSQL when configured), with Stripe faked at the gateway. No
stripesim, no server."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from paywire.catalog import Catalog
from paywire.config import Settings, load_settings
from tests.paywire.events.handlers.harness import Handling
from tests.support.stripesim import TEST_KEY


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Test mode (so a customer's time is their test clock's); no .env file."""
    return load_settings(STRIPE_SECRET_KEY=TEST_KEY, DATABASE_URL=database_url, _env_file=None)


@pytest.fixture
def handling(session: Session, catalog: Catalog, settings: Settings) -> Handling:
    return Handling(session, catalog, settings)
