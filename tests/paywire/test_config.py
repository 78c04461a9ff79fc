from __future__ import annotations

from pathlib import Path

import pytest

from paywire.config import (
    DEV_AUTH_SECRET,
    ConfigError,
    Settings,
    load_settings,
    require_auth_secret,
    require_stripe_key,
    require_webhook_secrets,
)
from paywire.db.engine import require_reachable_database
from paywire.db.migrate import upgrade_to_head
from paywire.service import require_service_settings
from tests.support.processes import free_port

CONTRACT = [
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_BASE",
    "DATABASE_URL",
    "PAYWIRE_CATALOG",
    "APP_URL",
    "PAYWIRE_AUTH_SECRET",
    "PAYWIRE_DEV",
]
GOOD = {
    "STRIPE_SECRET_KEY": "sk_test_abcdefghijklmnop",
    "STRIPE_WEBHOOK_SECRET": "whsec_one",
    "PAYWIRE_AUTH_SECRET": "x" * 40,
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No stray variables or .env file from the machine running the tests."""
    for name in CONTRACT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings()


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch)
    assert settings.database_url == "sqlite:///paywire.sqlite3"
    assert settings.app_url == "http://127.0.0.1:8000"
    assert settings.stripe_api_base is None
    assert settings.catalog_path is None
    assert settings.stripe_webhook_secrets == []
    assert settings.trial_days == 0 and settings.automatic_tax is False


def test_the_environment_and_dotenv_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    Path(".env").write_text(
        "STRIPE_SECRET_KEY=sk_test_fromdotenvfile\nAPP_URL=https://app.example.com/\nPAYWIRE_PAST_DUE_GRACE_DAYS=7\n"
    )
    settings = _settings(monkeypatch, STRIPE_API_BASE="http://127.0.0.1:12111")
    assert require_stripe_key(settings) == "sk_test_fromdotenvfile"
    assert settings.app_url == "https://app.example.com"
    assert settings.stripe_api_base == "http://127.0.0.1:12111"
    assert settings.grace_seconds == 7 * 86400


def test_rotating_webhook_secrets_are_a_list(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch, STRIPE_WEBHOOK_SECRET="whsec_old, whsec_new")
    assert require_webhook_secrets(settings) == ["whsec_old", "whsec_new"]


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"STRIPE_SECRET_KEY": "pk_test_publishable"}, "STRIPE_SECRET_KEY"),
        ({"STRIPE_SECRET_KEY": "whsec_oops"}, "STRIPE_SECRET_KEY"),
        (
            {"STRIPE_SECRET_KEY": "sk_live_abc", "STRIPE_API_BASE": "http://localhost:12111"},
            "STRIPE_SECRET_KEY",
        ),
        ({"STRIPE_SECRET_KEY": "sk_live_abc", "PAYWIRE_DEV": "1"}, "STRIPE_SECRET_KEY"),
        ({"STRIPE_WEBHOOK_SECRET": "whsec_a,secret_b"}, "STRIPE_WEBHOOK_SECRET"),
        ({"STRIPE_API_BASE": "localhost:12111"}, "STRIPE_API_BASE"),
        ({"APP_URL": "ftp://x"}, "APP_URL"),
        ({"DATABASE_URL": "mysql://db/x"}, "DATABASE_URL"),
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL"),
        ({"PAYWIRE_CHECKOUT_RATE_LIMIT": "lots"}, "PAYWIRE_CHECKOUT_RATE_LIMIT"),
        ({"PAYWIRE_PAST_DUE_GRACE_DAYS": "-1"}, "PAYWIRE_PAST_DUE_GRACE_DAYS"),
        ({"PAYWIRE_TRIAL_DAYS": "many"}, "PAYWIRE_TRIAL_DAYS"),
        ({"PAYWIRE_LOG_LEVEL": "chatty"}, "PAYWIRE_LOG_LEVEL"),
    ],
)
def test_malformed_settings_are_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], setting: str
) -> None:
    with pytest.raises(ConfigError) as error:
        _settings(monkeypatch, **env)
    assert error.value.setting == setting
    assert setting in str(error.value)


def test_a_live_key_against_real_stripe_is_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch, STRIPE_SECRET_KEY="sk_live_abc")
    assert settings.livemode


def test_missing_settings_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch)
    for check, name in [
        (require_stripe_key, "STRIPE_SECRET_KEY"),
        (require_webhook_secrets, "STRIPE_WEBHOOK_SECRET"),
        (require_auth_secret, "PAYWIRE_AUTH_SECRET"),
    ]:
        with pytest.raises(ConfigError) as error:
            check(settings)
        assert error.value.setting == name


def test_auth_secret_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    assert require_auth_secret(_settings(monkeypatch, PAYWIRE_DEV="true")) == DEV_AUTH_SECRET
    monkeypatch.delenv("PAYWIRE_DEV")
    with pytest.raises(ConfigError, match="dev secret"):
        require_auth_secret(_settings(monkeypatch, PAYWIRE_AUTH_SECRET=DEV_AUTH_SECRET))
    with pytest.raises(ConfigError, match="too short"):
        require_auth_secret(_settings(monkeypatch, PAYWIRE_AUTH_SECRET="short"))


def test_postgres_urls_use_psycopg_3(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch, DATABASE_URL="postgresql://u:p@db:5432/app")
    assert settings.database_url == "postgresql+psycopg://u:p@db:5432/app"
    assert settings.database_url_for_logs == "postgresql+psycopg://u:***@db:5432/app"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://nobody:pw@127.0.0.1:{port}/nothing",
        "sqlite:////nonexistent-dir/for/sure/paywire.sqlite3",
    ],
)
def test_an_unreachable_database_is_refused(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    settings = _settings(monkeypatch, DATABASE_URL=url.format(port=free_port()), **GOOD)
    with pytest.raises(ConfigError) as error:
        require_service_settings(settings)
    assert error.value.setting == "DATABASE_URL"
    assert "pw" not in str(error.value)


def test_a_complete_configuration_passes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    database = tmp_path / "paywire.sqlite3"
    upgrade_to_head(f"sqlite:///{database}")
    settings = _settings(monkeypatch, DATABASE_URL=f"sqlite:///{database}", **GOOD)
    require_service_settings(settings)
    require_reachable_database(settings)


def test_a_missing_sqlite_file_is_refused_and_not_created(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    database = tmp_path / "missing.sqlite3"
    settings = _settings(monkeypatch, DATABASE_URL=f"sqlite:///{database}", **GOOD)
    with pytest.raises(ConfigError, match="does not exist"):
        require_reachable_database(settings)
    assert not database.exists()
    require_reachable_database(settings, create=True)  # `paywire migrate` makes it
    assert database.exists()


def test_secrets_stay_out_of_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch, DATABASE_URL="postgresql+psycopg://u:dbpassword@db/app", **GOOD)
    shown = repr(settings) + str(settings) + str(settings.model_dump())
    for secret in ("abcdefghijklmnop", "whsec_one", "x" * 40):
        assert secret not in shown
    assert "dbpassword" not in repr(settings)
