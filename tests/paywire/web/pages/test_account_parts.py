"""The account page's pure parts: the state words, the limits shown for seats, reading the
change form into what `change_plan` takes (with the API's own checks)."""

from __future__ import annotations

import base64
import json

import pytest
from starlette.requests import Request

from paywire.billing.lifecycle import LifecycleState
from paywire.catalog import Catalog, load_catalog
from paywire.web.errors import ApiError
from paywire.web.pages.account_forms import ChangeRequest, change_request, promotion_code
from paywire.web.pages.account_view import STATE_WORDS, Limit, limits_of
from paywire.web.pages.render import FLASH_COOKIE, Flash, read_flash, words


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_every_lifecycle_state_has_words_and_no_two_share_them() -> None:
    assert set(STATE_WORDS) == set(LifecycleState)
    assert len(set(STATE_WORDS.values())) == len(STATE_WORDS)


def test_limits_scale_with_seats_and_say_the_allowance(catalog: Catalog) -> None:
    pro, basic = catalog.plans["pro"], catalog.plans["basic"]
    assert limits_of(pro, 3) == (Limit("Projects", 1000), Limit("Members", 3, per_seat=1))
    assert limits_of(basic, 1) == (Limit("Projects", 3), Limit("Members", 1))


def test_the_change_form_becomes_the_api_request(catalog: Catalog) -> None:
    form = {"plan": "pro", "interval": "year", "quantity": " 4 ", "proration_date": "1771113600"}
    assert change_request(catalog, form) == ChangeRequest("pro", "year", 4, 1771113600)


def test_seats_are_dropped_for_a_plan_not_sold_per_seat(catalog: Catalog) -> None:
    """The form shows the seat field for every plan (no JavaScript needed); on a flat plan it
    would otherwise ask for a quantity the catalog refuses."""
    assert change_request(catalog, {"plan": "basic", "interval": "month", "quantity": "3"}).quantity is None
    assert change_request(catalog, {"plan": "basic", "interval": "month", "quantity": ""}).quantity is None


def test_blank_fields_count_as_not_sent(catalog: Catalog) -> None:
    assert change_request(catalog, {"plan": "pro", "interval": "", "quantity": "", "proration_date": ""}) == (
        ChangeRequest("pro", None, None, None)
    )


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"plan": "pro", "quantity": "two"}, "quantity", "Seats must be a whole number."),
        ({"plan": "pro", "quantity": "-1"}, "quantity", "Seats must be a whole number."),
        ({"plan": "pro", "proration_date": "yesterday"}, "proration_date", "preview the change again"),
        ({"plan": "pro", "amount": "1"}, "amount", "Prices and amounts come from the catalog"),
        ({"plan": "pro", "unit_amount": "1"}, "unit_amount", "Prices and amounts come from the catalog"),
        ({"plan": "pro", "coupon": "FREE"}, "coupon", "Unknown field."),
    ],
)
def test_a_forged_or_malformed_field_is_refused_by_name(
    catalog: Catalog, form: dict[str, str], field: str, message: str
) -> None:
    with pytest.raises(ApiError) as refused:
        change_request(catalog, form)
    assert refused.value.status_code == 400
    assert refused.value.payload["error"]["field"] == field
    assert message in refused.value.payload["error"]["message"]


def test_the_promotion_code_form(catalog: Catalog) -> None:
    assert promotion_code({"promotion_code": " SPRING20 "}) == "SPRING20"
    assert promotion_code({"promotion_code": ""}) == ""
    with pytest.raises(ApiError):
        promotion_code({"promotion_code": "X", "percent_off": "100"})


def test_a_change_without_a_chosen_plan_is_refused_by_name(catalog: Catalog) -> None:
    """The plan menu starts on "Choose a plan", not on the current one."""
    with pytest.raises(ApiError) as refused:
        change_request(catalog, {"plan": "", "interval": "month"})
    assert refused.value.payload["error"]["field"] == "plan"
    assert refused.value.payload["error"]["message"] == "Choose the plan to change to."


def test_catalog_words_keep_their_initialisms() -> None:
    assert [words(k) for k in ("api_access", "email_support", "sso", "export-csv", "priority_support")] == [
        "API access",
        "Email support",
        "SSO",
        "Export CSV",
        "Priority support",
    ]


def test_a_refusals_flash_carries_its_status_and_nothing_else_does() -> None:
    def read(data: dict[str, object]) -> Flash | None:
        cookie = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
        return read_flash(Request({"type": "http", "headers": [(b"cookie", f"{FLASH_COOKIE}={cookie}".encode())]}))

    refused = read({"t": "No.", "k": "error", "s": 409, "r": "5"})
    assert refused is not None and (refused.status, refused.retry_after) == (409, "5")
    for status in (200, 302, "409", True, 600):
        forged = read({"t": "Hi.", "k": "info", "s": status, "r": "5"})
        assert forged is not None and (forged.status, forged.retry_after) == (None, None), status
