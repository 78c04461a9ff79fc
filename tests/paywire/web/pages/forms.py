"""Driving the pages over plain HTTP, as a browser without JavaScript would: read a page's
CSRF token, post its forms."""

from __future__ import annotations

import re

import httpx

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token_of(page: httpx.Response) -> str:
    found = TOKEN.search(page.text)
    assert found, f"no CSRF token on {page.url}"
    return found.group(1)


def sign_in_over_http(http: httpx.Client, email: str) -> httpx.Response:
    token = csrf_token_of(http.get("/sign-in"))
    answer = http.post("/sign-in", data={"csrf_token": token, "email": email})
    assert answer.status_code == 303, answer.text
    return answer


def start_checkout_over_http(http: httpx.Client, **fields: str) -> str:
    """Post the pricing page's Subscribe (or Buy) form; the hosted Checkout's URL."""
    token = csrf_token_of(http.get("/pricing"))
    answer = http.post("/checkout", data={"csrf_token": token, **fields})
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


def checkout_session_id(hosted_url: str) -> str:
    """The Checkout Session's id in stripesim's hosted page URL (`…/c/pay/cs_…`)."""
    return hosted_url.rstrip("/").rsplit("/", 1)[-1]
