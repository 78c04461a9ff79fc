"""The account page's form fields, read into what the billing operations take.

Form values are strings; they are turned into the API's body (`ConfirmChangeBody`, checked by
the API's own `parse_body`: unknown fields and price fields refused by name), so a form can ask
for nothing the JSON API would not take. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paywire.catalog import Catalog
from paywire.web.errors import ApiError
from paywire.web.subscription_api import ConfirmChangeBody, DiscountBody, parse_body

CSRF_FIELD = "csrf_token"
NUMBERS = {
    "quantity": "Seats must be a whole number.",
    "proration_date": "The preview's date is not valid; preview the change again.",
}


@dataclass(frozen=True)
class ChangeRequest:
    plan: str | None
    interval: str | None
    quantity: int | None
    proration_date: int | None
    subscription: str | None = None  # one of the user's own, checked by the operation


def _fields(form: dict[str, str]) -> dict[str, Any]:
    """The form without its CSRF token, blank fields left out (as if not sent)."""
    return {name: value.strip() for name, value in form.items() if name != CSRF_FIELD and value.strip()}


def change_request(catalog: Catalog, form: dict[str, str]) -> ChangeRequest:
    """A plan change from the form. Seats count only on a per-seat plan: the form shows the seat
    field for every plan (it works without JavaScript), so on a flat plan it is not sent on."""
    data = _fields(form)
    for name, message in NUMBERS.items():
        if name in data:
            if not data[name].isdigit():
                raise ApiError(400, message, field=name)
            data[name] = int(data[name])
    body = parse_body(ConfirmChangeBody, data)
    if not body.plan:
        raise ApiError(400, "Choose the plan to change to.", field="plan")
    plan = catalog.plan(body.plan)
    quantity = body.quantity if plan is None or plan.per_seat else None
    return ChangeRequest(body.plan, body.interval, quantity, body.proration_date, body.subscription)


def promotion_code(form: dict[str, str]) -> str:
    body = parse_body(DiscountBody, _fields(form))
    return body.promotion_code or ""
