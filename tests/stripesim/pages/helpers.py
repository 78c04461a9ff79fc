"""Small helpers shared by the hosted-page tests."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import stripe

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
