"""Small helpers shared by the hosted-page tests."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import stripe

from tests.support.billing_world import Catalog

GOOD_EXPIRY = {"card_expiry": "12 / 34", "card_cvc": "123"}


def card(number: str, **fields: str) -> dict[str, str]:
    """The card fields of a hosted form, as a person fills them in."""
    return {"card_number": number, **GOOD_EXPIRY, **fields}


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def field_error(page: str, field: str) -> str | None:
    """The error message shown under a form field, if any."""
    found = re.search(rf'data-error-for="{re.escape(field)}">([^<]*)<', page)
    return html.unescape(found.group(1)) if found else None


def figure(page: str, value_id: str) -> str | None:
    """The figure a page shows in the element with this id (`amount-due`, `due-today`, …), if any."""
    found = re.search(rf'id="{re.escape(value_id)}">([^<]*)<', page)
    return html.unescape(found.group(1)) if found else None


def dollars(cents: int) -> str:
    """`-200` → `-$2.00`, as the pages write US dollars."""
    return f"-${-cents / 100:,.2f}" if cents < 0 else f"${cents / 100:,.2f}"


def latest_event_id(client: stripe.StripeClient) -> str | None:
    events = client.v1.events.list(params={"limit": 1}).data
    return events[0].id if events else None


def events_after(client: stripe.StripeClient, marker: str | None) -> list[Any]:
    """Events created after the event `marker` (None: all), oldest first."""
    out = []
    for event in client.v1.events.list(params={"limit": 100}).auto_paging_iter():
        if marker and event.id == marker:
            break
        out.append(event)
    return list(reversed(out))


def types(events: list[Any]) -> list[str]:
    return [e.type for e in events]


def follow(web: httpx.Client, response: httpx.Response) -> httpx.Response:
    """Follow one redirect on stripesim (a 303 to one of its own pages)."""
    assert response.status_code == 303, response.text[:500]
    return web.get(path_of(response.headers["location"]))


def full_features(catalog: Catalog) -> dict[str, Any]:
    return {
        "customer_update": {"enabled": True, "allowed_updates": ["email", "name"]},
        "invoice_history": {"enabled": True},
        "payment_method_update": {"enabled": True},
        "subscription_cancel": {
            "enabled": True,
            "mode": "immediately",
            "proration_behavior": "create_prorations",
            "cancellation_reason": {"enabled": True, "options": ["too_expensive", "other"]},
        },
        "subscription_update": {
            "enabled": True,
            "default_allowed_updates": ["price", "quantity"],
            "proration_behavior": "always_invoice",
            "products": [
                {"product": catalog.basic_month.product, "prices": [catalog.basic_month.id]},
                {
                    "product": catalog.pro_month.product,
                    "prices": [catalog.pro_month.id, catalog.pro_year.id],
                    "adjustable_quantity": {"enabled": True, "minimum": 1, "maximum": 5},
                },
            ],
            "schedule_at_period_end": {"conditions": [{"type": "decreasing_item_amount"}]},
        },
    }


def subscribed_customer(client: stripe.StripeClient, catalog: Catalog) -> tuple[Any, Any]:
    customer = client.v1.customers.create(params={"email": "c@example.com"})
    pm = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    client.v1.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": pm.id}})
    sub = client.v1.subscriptions.create(params={"customer": customer.id, "items": [{"price": catalog.basic_month.id}]})
    return customer, sub
