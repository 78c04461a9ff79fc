"""The team's way through a dispute on `/admin`, in Chromium: a pass paid with the dispute card
(4000000000000259) is disputed, the team's alert mail links to the dispute; the admin opens the
dashboard, finds it among the open disputes by its deadline, reviews the evidence paywire
drafted (the customer, the terms accepted at checkout, the receipt, the access log), edits it,
stages it in Stripe, then submits it, once."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import Page, expect
from sqlalchemy import select

from paywire.db.models import Dispute
from paywire.web.pages.session import user_id_for_email
from tests.paywire.conftest import Service
from tests.paywire.events.conftest import Shop, wait_for
from tests.paywire.mailbox import Mailbox
from tests.paywire.web.pages.conftest import check_accessibility, screenshot, sign_in
from tests.support.processes import free_port
from tests.support.stripesim import Sim

ADMIN = "ada@example.com"
TEAM = "team@example.com"
DISPUTE_CARD = "4000000000000259"
DISPUTE_LINK = re.compile(r"(http://\S+/admin/disputes/dp_\w+)")


@pytest.fixture
def team_mailbox() -> Iterator[Mailbox]:
    box = Mailbox(free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


@pytest.fixture
def prompt_disputes(sim: Sim) -> Iterator[None]:
    """Disputes open as soon as the payment is made (instead of a minute later)."""
    sim.control("config", {"dispute_delay_s": 0})
    yield
    sim.control("config", {"dispute_delay_s": 60})


def dispute_of(service: Service) -> Dispute | None:
    with service.sessions() as session:
        return session.scalar(select(Dispute))


def test_an_admin_answers_a_dispute_from_its_alert_to_the_submitted_evidence(
    make_paywire_service: Callable[..., Service],
    sim: Sim,
    page: Page,
    team_mailbox: Mailbox,
    prompt_disputes: None,
) -> None:
    service = make_paywire_service(
        PAYWIRE_PAGES=True,
        PAYWIRE_DEMO_SIGN_IN=True,
        PAYWIRE_ADMIN_USERS=user_id_for_email(ADMIN),
        PAYWIRE_TEAM_EMAIL=TEAM,
        **team_mailbox.settings(),
    )
    buyer = Shop(service, sim, "pass_disputer")
    assert buyer.pay(buyer.checkout({"product": "pass-3-months"}), DISPUTE_CARD).status_code == 200
    dispute = wait_for("the dispute", lambda: dispute_of(service))
    wait_for(
        "the receipt mailed",
        lambda: any(m["notice"] == "receipt" for m in team_mailbox.received_by("pass_disputer@example.com")),
    )

    [alert] = wait_for(
        "the team's alert",
        lambda: [m for m in team_mailbox.received_by(TEAM) if m["notice"] == "team_dispute_opened"] or None,
    )
    link = DISPUTE_LINK.search(team_mailbox.text_of(alert["id"]))
    assert link is not None and link.group(1) == f"{service.url}/admin/disputes/{dispute.id}"

    sign_in(page, service.url, ADMIN)
    page.goto(f"{service.url}/admin")
    row = page.locator(f"[data-dispute='{dispute.id}']")
    expect(row).to_contain_text("$4.00")
    expect(row).to_contain_text("fraudulent")
    expect(row).to_contain_text("not submitted")
    check_accessibility(page)
    row.get_by_role("link", name=dispute.id).click()
    expect(page).to_have_url(link.group(1))

    expect(page.get_by_test_id("dispute-status")).to_have_text("needs response")
    expect(page.get_by_label("Customer's email")).to_have_value("pass_disputer@example.com")
    expect(page.get_by_label("Terms and refund policy shown at checkout")).to_contain_text(
        "consent to the terms of service: accepted"
    )
    expect(page.get_by_label("Access and use")).to_contain_text("checkout from 127.0.0.1")
    expect(page.get_by_test_id("document-receipt")).to_contain_text("Message-ID <")
    expect(page.get_by_label("Rebuttal and other evidence")).to_contain_text("The cardholder made this purchase.")
    check_accessibility(page)
    screenshot(page, "dispute-draft")

    page.get_by_label("Customer's name").fill("Pat Disputer")
    page.get_by_role("button", name="Stage in Stripe").click()
    expect(page.locator(".flash")).to_contain_text("Evidence staged in Stripe")
    expect(page.get_by_test_id("evidence-state")).to_have_text("staged in Stripe, not submitted")
    staged = sim.client().v1.disputes.retrieve(dispute.id)
    assert (staged.evidence.customer_name, staged.evidence_details.submission_count) == ("Pat Disputer", 0)

    page.get_by_test_id("submit-evidence").click()
    expect(page.locator(".flash")).to_contain_text("Evidence submitted to the bank")
    expect(page.get_by_test_id("evidence-state")).to_have_text("submitted")
    expect(page.get_by_test_id("dispute-status")).to_have_text("under review")
    expect(page.get_by_test_id("submit-evidence")).to_have_count(0)
    expect(page.get_by_label("Customer's name")).to_have_attribute("readonly", "")
    screenshot(page, "dispute-submitted")
    submitted = sim.client().v1.disputes.retrieve(dispute.id)
    assert (submitted.status, submitted.evidence_details.submission_count) == ("under_review", 1)
    assert str(submitted.evidence.receipt).startswith("file_")

    page.goto(f"{service.url}/admin")
    expect(page.locator(f"[data-dispute='{dispute.id}']")).to_contain_text("under review")
