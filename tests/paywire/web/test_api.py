"""`validated`: the one mapping of a JSON body that does not fit its model to the API's 400,
shared by checkout and the subscription routes."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict

from paywire.web.api import parse_checkout, validated
from paywire.web.errors import ApiError


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quantity: int


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plan: str
    lines: list[Line] = []


def refusal(data: dict[str, object]) -> tuple[int, str, str | None]:
    with pytest.raises(ApiError) as refused:
        validated(Body, data)
    error = refused.value.payload["error"]
    return refused.value.status_code, error["message"], error["field"]


def test_a_body_that_fits_is_the_model() -> None:
    assert validated(Body, {"plan": "pro", "lines": [{"quantity": 2}]}) == Body(plan="pro", lines=[Line(quantity=2)])


def test_an_unknown_field_is_refused_by_name() -> None:
    assert refusal({"plan": "pro", "coupon": "FREE"}) == (400, "Unknown field.", "coupon")


def test_a_wrong_value_is_refused_with_its_path_and_pydantics_message() -> None:
    status, message, field = refusal({"plan": "pro", "lines": [{"quantity": "many"}]})
    assert (status, field) == (400, "lines.0.quantity")
    assert "integer" in message


def test_a_missing_field_is_named() -> None:
    assert refusal({})[::2] == (400, "plan")


def test_checkout_refuses_through_it() -> None:
    with pytest.raises(ApiError) as refused:
        parse_checkout({"plan": "pro", "coupon": "FREE"})
    assert refused.value.payload["error"]["message"] == "Unknown field."
    assert refused.value.payload["error"]["field"] == "coupon"
