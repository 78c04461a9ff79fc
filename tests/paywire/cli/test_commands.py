from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from paywire.cli.main import main
from paywire.db.migrate import is_current
from tests.support.stripesim import TEST_KEY, Sim

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


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in CONTRACT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def run(*args: str, **env: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


def test_catalog_check_push_check(sim: Sim) -> None:
    env = {"STRIPE_SECRET_KEY": TEST_KEY, "STRIPE_API_BASE": sim.url}
    code, out = run("catalog", "check", **env)
    assert code == 1 and "pro_month: missing" in out and "catalog push" in out
    code, out = run("catalog", "push", **env)
    # 12 prices (4 of them Scale's, 2 metered; 1 session-60's), 7 products, the api_calls meter, the portal
    assert code == 0 and "created" in out and "21 change(s)" in out
    code, out = run("catalog", "push", **env)
    assert code == 0 and "0 change(s), 21 already in line" in out
    code, out = run("catalog", "check", **env)
    assert code == 0 and "in line" in out


def test_catalog_push_from_a_custom_file(sim: Sim, tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('[plans.solo]\nname = "Solo"\nrank = 1\nprices = { month = 900 }\n')
    env = {"STRIPE_SECRET_KEY": TEST_KEY, "STRIPE_API_BASE": sim.url, "PAYWIRE_CATALOG": str(path)}
    code, out = run("catalog", "push", **env)
    assert code == 0 and "solo_month" in out and "pro_month" not in out


def test_migrate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/m.sqlite3"
    code, out = run("migrate", DATABASE_URL=url)
    assert code == 0 and "current schema" in out
    assert is_current(url)


@pytest.mark.parametrize(
    ("args", "env", "setting"),
    [
        (["serve"], {}, "STRIPE_SECRET_KEY"),
        (["serve"], {"STRIPE_SECRET_KEY": "pk_test_123"}, "STRIPE_SECRET_KEY"),
        (["serve"], {"STRIPE_SECRET_KEY": TEST_KEY}, "STRIPE_WEBHOOK_SECRET"),
        (
            ["serve"],
            {"STRIPE_SECRET_KEY": TEST_KEY, "STRIPE_WEBHOOK_SECRET": "whsec_x"},
            "PAYWIRE_AUTH_SECRET",
        ),
        (
            ["serve"],
            {
                "STRIPE_SECRET_KEY": TEST_KEY,
                "STRIPE_WEBHOOK_SECRET": "whsec_x",
                "PAYWIRE_AUTH_SECRET": "a" * 40,
                "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
            },
            "DATABASE_URL",
        ),
        (
            ["serve"],
            {
                "STRIPE_SECRET_KEY": "sk_live_x",
                "STRIPE_API_BASE": "http://127.0.0.1:12111",
            },
            "STRIPE_SECRET_KEY",
        ),
        (
            ["catalog", "check"],
            {"PAYWIRE_CATALOG": "/nonexistent.toml", "STRIPE_SECRET_KEY": TEST_KEY},
            "PAYWIRE_CATALOG",
        ),
        (["migrate"], {"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
    ],
)
def test_commands_refuse_to_start_naming_the_setting(args: list[str], env: dict[str, str], setting: str) -> None:
    code, out = run(*args, **env)
    assert code == 2
    assert f"paywire: cannot start: {setting}:" in out


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    code, out = run(
        "serve",
        STRIPE_SECRET_KEY=TEST_KEY,
        STRIPE_WEBHOOK_SECRET="whsec_x",
        PAYWIRE_AUTH_SECRET="a" * 40,
        DATABASE_URL=f"sqlite:///{tmp_path}/new.sqlite3",
    )
    assert code == 2 and "paywire migrate" in out
