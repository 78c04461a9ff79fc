"""Alembic, run from code: `paywire migrate`, test fixtures and `/readyz` use these."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, pool

from paywire.config import ConfigError, Settings
from paywire.db.engine import make_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Percent signs in passwords would be read as interpolation by configparser.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def upgrade_to_head(database_url: str) -> None:
    engine = make_engine(database_url, poolclass=pool.NullPool)
    try:
        upgrade_engine_to_head(engine)
    finally:
        engine.dispose()


def upgrade_engine_to_head(engine: Engine) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_current(database_url: str) -> bool:
    """Whether the database is at the newest migration (for `/readyz`)."""
    engine = make_engine(database_url, poolclass=pool.NullPool)
    try:
        return engine_is_current(engine)
    finally:
        engine.dispose()


def engine_is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()


def require_migrated(settings: Settings) -> None:
    """Refuse to run against a database behind the current schema."""
    if not is_current(settings.database_url):
        raise ConfigError(
            "DATABASE_URL",
            f"{settings.database_url_for_logs} is not migrated to the current schema; run `paywire migrate`",
        )
