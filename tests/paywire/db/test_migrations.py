from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from paywire.db.engine import make_engine
from paywire.db.migrate import is_current, upgrade_to_head
from paywire.db.models import Base

TABLES = {
    "customers",
    "subscriptions",
    "subscription_items",
    "invoices",
    "orders",
    "test_clocks",
    "webhook_events",
}


def test_migrations_create_exactly_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == []


def test_all_contract_tables_exist(database_url: str) -> None:
    engine = make_engine(database_url)
    assert set(inspect(engine).get_table_names()) >= TABLES
    inbox_indexes = {ix["name"] for ix in inspect(engine).get_indexes("webhook_events")}
    assert {
        "ix_webhook_events_state_next_attempt_at",
        "ix_webhook_events_object_id",
    } <= inbox_indexes
    engine.dispose()


def test_is_current_only_after_upgrade(empty_database_url: str) -> None:
    assert not is_current(empty_database_url)
    upgrade_to_head(empty_database_url)
    assert is_current(empty_database_url)
    upgrade_to_head(empty_database_url)  # a second run is a no-op
    assert is_current(empty_database_url)
