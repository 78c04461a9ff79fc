"""The dev inbox in Chromium: a subscriber's card starts failing, the account page's time
travel control moves their clock a month on, and `/dev/mail` shows every notice of that
scenario (welcome, receipt, the dunning sequence, the end), each multipart, its HTML rendered.
Outside dev mode the inbox does not exist."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from paywire.web.pages.session import user_id_for_email
from tests.paywire.conftest import Service
from tests.paywire.mailbox import parts_of
from tests.paywire.web.pages.accounts import open_account, subscriber_for
from tests.paywire.web.pages.conftest import check_accessibility, screenshot
from tests.paywire.web.pages.test_account_flows import CARD_FAILS_LATER, use_card
from tests.support.stripesim import Sim

pytestmark = pytest.mark.browser

# Stripe's recommended schedule: 8 tries in 2 weeks (stripesim's default, set again here).
RETRY_DAYS = [1, 3, 5, 7, 9, 11, 14]


@pytest.fixture
def mail_dir(tmp_path: Path) -> Path:
    return tmp_path / "dev-mail"


@pytest.fixture
def dev_service(make_paywire_service: Callable[..., Service], mail_dir: Path, sim: Sim) -> Service:
    sim.control("config", {"invoice_retry_days": RETRY_DAYS, "subscription_after_retries": "canceled"})
    return make_paywire_service(
        PAYWIRE_DEV=True,
        PAYWIRE_DEMO_SIGN_IN=True,
        PAYWIRE_TEST_CLOCKS=True,
        PAYWIRE_EMAIL_BACKEND="dev",
        PAYWIRE_DEV_MAIL_DIR=str(mail_dir),
        PAYWIRE_PRODUCT_NAME="Acme Notes",
    )


def test_the_dev_inbox_shows_a_whole_dunning_scenario_from_the_account_pages_time_travel(
    dev_service: Service, sim: Sim, page: Page, mail_dir: Path
) -> None:
    email_address = "dana@example.com"
    dana = subscriber_for(dev_service, sim, email_address, "pro")
    use_card(dana, CARD_FAILS_LATER)
    open_account(page, dev_service, email_address)

    page.get_by_label("Advance by").select_option("31d")
    page.get_by_role("button", name="Advance the clock").click()
    expect(page.get_by_role("status").or_(page.get_by_role("alert")).first).to_contain_text("The clock moved to")
    expect(page.locator("#plan-name")).to_have_count(1)

    page.goto(dev_service.url + "/dev/mail")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dev inbox")
    rows = page.locator("tbody tr")
    notices = [rows.nth(i).locator("td").nth(3).inner_text() for i in range(rows.count())]
    attempts = [rows.nth(i).locator("td").nth(4).inner_text() for i in range(rows.count())]
    # Newest first: the end, the final warning (one try left), the second notice, the first,
    # and (sent together, in either order) the welcome and the first invoice's receipt.
    told = list(zip(notices, attempts, strict=True))
    assert told[:4] == [
        ("subscription_canceled", ""),
        ("final_notice", "7"),
        ("payment_failed", "2"),
        ("payment_failed", "1"),
    ]
    assert sorted(told[4:]) == [("access_granted", ""), ("receipt", "")]
    check_accessibility(page)
    screenshot(page, "inbox")

    page.get_by_role("link", name=re.compile("^Final warning")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Final warning: your access ends on")
    rendered = page.frame_locator("iframe[title='The HTML part']")
    expect(rendered.get_by_role("heading", name="Final warning")).to_be_visible()
    expect(rendered.get_by_role("link", name="Update your card now")).to_have_attribute(
        "href", re.compile(r"/billing/update-payment\?t=")
    )
    expect(rendered.get_by_text("Acme Notes").first).to_be_visible()
    screenshot(page, "final-warning")
    page.get_by_role("link", name="Plain-text part").click()
    expect(page.locator("body")).to_contain_text("We will try one last time on")

    kept = sorted(mail_dir.glob("*.eml"))
    assert len(kept) == 6
    for path in kept:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert message.get_content_type() == "multipart/alternative"
        assert parts_of(message) == ["text/plain", "text/html"]
        assert message["To"] == f"{user_id_for_email(email_address)}@example.com"


def test_outside_dev_mode_there_is_no_inbox(make_paywire_service: Callable[..., Service]) -> None:
    service = make_paywire_service(PAYWIRE_PAGES=True, PAYWIRE_EMAIL_BACKEND="dev")
    with service.http() as http:
        assert http.get("/dev/mail").status_code == 404
        assert http.get("/dev/mail/1-0123456789abcdef01234567/html").status_code == 404
