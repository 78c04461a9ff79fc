from __future__ import annotations

from pathlib import Path

import pytest

from paywire.catalog import Catalog, load_catalog, parse_catalog
from paywire.config import ConfigError

MINIMAL = """
[plans.solo]
name = "Solo"
rank = 1
prices = { month = 900 }
"""


def test_default_catalog_is_the_briefs(catalog: Catalog) -> None:
    monthly = {key: plan.prices["month"] for key, plan in catalog.plans.items()}
    assert monthly == {"basic": 500, "advanced": 700, "pro": 1000}
    for plan in catalog.plans.values():
        assert plan.prices["year"] == 10 * plan.prices["month"]  # two months free
    assert [p.key for p in sorted(catalog.plans.values(), key=lambda p: p.rank)] == [
        "basic",
        "advanced",
        "pro",
    ]
    assert catalog.plans["pro"].per_seat and catalog.plans["pro"].max_quantity > 1
    assert not catalog.plans["basic"].per_seat and catalog.plans["basic"].max_quantity == 1
    pass_ = catalog.products["pass-3-months"]
    assert (pass_.price, pass_.grants_plan, pass_.duration_months) == (400, "basic", 3)
    assert set(catalog.lookup_keys()) == {
        "basic_month",
        "basic_year",
        "advanced_month",
        "advanced_year",
        "pro_month",
        "pro_year",
        "pass-3-months",
    }
    assert catalog.currency == "usd"


def test_lookup_keys_map_back_to_plans(catalog: Catalog) -> None:
    assert catalog.plan_for_lookup_key("pro_year") == ("pro", "year")
    assert catalog.plan_for_lookup_key("basic_month") == ("basic", "month")
    assert catalog.plan_for_lookup_key("pass-3-months") is None
    assert catalog.plan_for_lookup_key(None) is None
    assert catalog.plan_for_product_id("paywire_plan_advanced") == "advanced"


def test_products_carry_paywire_metadata(catalog: Catalog) -> None:
    metadata = {spec.product_id: spec.metadata for spec in catalog.product_specs()}
    assert metadata["paywire_plan_pro"] == {"paywire_plan": "pro"}
    assert metadata["paywire_product_pass-3-months"] == {"paywire_product": "pass-3-months"}


def test_a_custom_catalog_file(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(MINIMAL)
    catalog = load_catalog(path)
    assert catalog.lookup_keys() == ["solo_month"]
    assert catalog.products == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plans = 3 [", "not valid TOML"),
        (MINIMAL.replace("rank = 1", "rank = 1\ncolor = 'red'"), "plans.solo.color"),
        (MINIMAL.replace("month = 900", "week = 900"), "plans.solo.prices.week"),
        (MINIMAL.replace("month = 900", "month = 0"), "greater than 0"),
        (MINIMAL + "max_quantity = 5\n", "per_seat plans only"),
        (MINIMAL + '[plans.duo]\nname = "Duo"\nrank = 1\nprices = { month = 1 }\n', "distinct"),
        (
            MINIMAL + '[products.p]\nname="P"\nprice=100\ngrants_plan="gold"\nduration_months=1\n',
            "unknown plan 'gold'",
        ),
        ("currency = 'usd'\n[plans]\n", "no plans"),
        (MINIMAL.replace("[plans.solo]", "[plans.Solo]"), "plans.Solo"),
    ],
)
def test_malformed_catalogs_are_refused_naming_the_setting(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_catalog(text)
    assert error.value.setting == "PAYWIRE_CATALOG"
    assert expected in error.value.message


def test_unreadable_catalog_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_catalog(tmp_path / "missing.toml")
