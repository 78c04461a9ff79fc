from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from paywire.catalog import Catalog, load_catalog, parse_catalog, platform_fee
from paywire.config import ConfigError

MINIMAL = """
[plans.solo]
name = "Solo"
rank = 1
prices = { month = 900 }
"""


def test_default_catalog_is_the_briefs(catalog: Catalog) -> None:
    monthly = {key: plan.prices["month"] for key, plan in catalog.plans.items()}
    assert monthly == {"basic": 500, "advanced": 700, "pro": 1000, "scale": 2000}
    for plan in catalog.plans.values():
        assert plan.prices["year"] == 10 * plan.prices["month"]  # two months free
    assert [p.key for p in sorted(catalog.plans.values(), key=lambda p: p.rank)] == [
        "basic",
        "advanced",
        "pro",
        "scale",
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
        "scale_month",
        "scale_year",
        "scale_api_calls_month",
        "scale_api_calls_year",
        "pass-3-months",
        "session-60",
    }
    assert catalog.currency == "usd"


def test_the_default_catalogs_marketplace_product(catalog: Catalog) -> None:
    """A $100 session sold by sellers, the platform keeping 15 %: not a pass, never on the
    pricing page, pushed to Stripe like every price."""
    session = catalog.marketplace_products["session-60"]
    assert (session.price, session.fee_percent, session.fee_fixed) == (10000, Decimal(15), 0)
    assert catalog.product("session-60") is None and catalog.marketplace_product("session-60") is session
    assert platform_fee(session.price, session.fee_percent, session.fee_fixed) == 1500


def test_a_marketplace_products_fee_must_leave_the_seller_something() -> None:
    with pytest.raises(ConfigError, match="less than the price"):
        parse_catalog(
            MINIMAL + '[products.x]\nname = "X"\nprice = 100\nmarketplace = true\nfee_percent = 50\nfee_fixed = 50\n'
        )


def test_the_platform_fee_rounds_half_up_and_adds_the_fixed_part() -> None:
    assert platform_fee(999, Decimal("12.5"), 30) == 125 + 30
    assert platform_fee(100, Decimal(100), 0) == 100
    assert platform_fee(50, Decimal(10), 100) == 50  # never more than the amount


def test_the_default_catalogs_hybrid_plan(catalog: Catalog) -> None:
    """Scale: a flat fee, 10,000 API calls a month included, then $1 per 1,000 (soft limit)."""
    scale = catalog.plans["scale"]
    usage = scale.usage["api_calls"]
    assert (usage.allowance, usage.unit_price, usage.limit, usage.has_overage) == (10000, Decimal("0.1"), "soft", True)
    meter = catalog.meters["api_calls"]
    assert (meter.event, meter.formula, meter.customer_key, meter.value_key) == (
        "api_calls",
        "sum",
        "stripe_customer_id",
        "value",
    )
    assert catalog.meter_for_event("api_calls") is meter
    (month,) = catalog.usage_specs(scale, "month")
    assert month.metered and month.meter == "api_calls" and month.product_id == "paywire_meter_api_calls"
    assert [(t.up_to, t.unit_amount_decimal) for t in month.tiers] == [(10000, "0"), (None, "0.1")]
    (year,) = catalog.usage_specs(scale, "year")
    assert [(t.up_to, t.unit_amount_decimal) for t in year.tiers] == [(120000, "0"), (None, "0.1")]
    assert catalog.plan_of([{"lookup_key": None, "metadata": month.metadata}]) == ("scale", None)
    assert catalog.plans["pro"].usage == {}


USAGE = (
    MINIMAL
    + """
[meters.calls]
name = "Calls"
"""
)


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ("included = 100, unit_amount = 2", [(100, "0"), (None, "2")]),
        ('unit_amount_decimal = "0.25"', []),  # per unit, nothing included
        (
            "tiers = ["
            "{ up_to = 10, unit_amount = 0 }, { up_to = 50, unit_amount = 5 }, "
            '{ up_to = "inf", unit_amount_decimal = "2.5" }'
            "]",
            [(10, "0"), (50, "5"), (None, "2.5")],
        ),
        ('included = 1000, limit = "hard"', [(1000, "0"), (None, "0")]),
    ],
)
def test_metered_prices_per_unit_or_graduated(usage: str, expected: list[tuple[int | None, str]]) -> None:
    catalog = parse_catalog(
        USAGE + f"[plans.solo.usage.calls]\n{usage.replace(', ', chr(10)) if 'tiers' not in usage else usage}\n"
    )
    (spec,) = catalog.usage_specs(catalog.plans["solo"], "month")
    assert [(t.up_to, t.unit_amount_decimal) for t in spec.tiers] == expected
    assert (spec.unit_amount_decimal is None) == bool(expected)


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ("included = 10", "a soft limit bills usage beyond"),
        ('included = 10\nunit_amount = 1\nlimit = "hard"', "no price beyond its allowance"),
        ('limit = "hard"', "a hard limit needs an allowance"),
        ('unit_amount = 1\nunit_amount_decimal = "1"', "not both"),
        ('unit_amount_decimal = "-1"', "non-negative"),
        ("tiers = [{ up_to = 10, unit_amount = 0 }]", 'reaches "inf"'),
        (
            "tiers = [{ up_to = 10, unit_amount = 0 }, { up_to = 5, unit_amount = 0 }, "
            '{ up_to = "inf", unit_amount = 1 }]',
            "rise",
        ),
    ],
)
def test_malformed_usage_is_refused(usage: str, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_catalog(USAGE + f"[plans.solo.usage.calls]\n{usage}\n")
    assert expected in error.value.message


def test_usage_of_an_unknown_meter_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown meter 'gone'"):
        parse_catalog(MINIMAL + "[plans.solo.usage.gone]\nunit_amount = 1\n")


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
