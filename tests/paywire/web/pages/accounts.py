"""What the account page tests share: a subscribed demo user, and opening their account page
(the service with the pages on is the `service` fixture of conftest.py)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from paywire.web.pages.session import user_id_for_email
from tests.paywire.billing.subscribers import Subscriber, subscribed
from tests.paywire.conftest import Service
from tests.paywire.web.pages.conftest import sign_in
from tests.support.stripesim import Sim


def subscriber_for(service: Service, sim: Sim, email: str, plan: str, quantity: int = 1) -> Subscriber:
    """`email`'s demo user, subscribed to `plan` on 1 Feb 2026 and now on 15 Feb (clock time)."""
    return subscribed(service, sim, user_id_for_email(email), plan, quantity=quantity)


def open_account(page: Page, service: Service, email: str) -> None:
    sign_in(page, service.url, email)
    page.goto(service.url + "/account")
    expect(page.get_by_role("heading", level=1)).to_have_text("Account and billing")
