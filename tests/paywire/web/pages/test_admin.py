"""The operator's dashboard in Chromium: an admin sees its charts (every one drawn, no request
failing), readable on a phone and accessible (axe); anyone else signed in gets 403."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, Response, expect

from paywire.web.pages.session import user_id_for_email
from tests.paywire.billing.subscribers import HALF_FEB, subscribed
from tests.paywire.conftest import Service
from tests.paywire.web.pages.conftest import check_accessibility, screenshot, sign_in
from tests.support.stripesim import Sim

ADMIN = "admin@example.com"
CHARTS = ("mrr", "movements", "churn", "payments", "webhooks")


def test_an_admin_sees_the_dashboard_with_its_charts_and_anyone_else_gets_403(
    make_paywire_service: Callable[..., Service], sim: Sim, page: Page
) -> None:
    service = make_paywire_service(
        PAYWIRE_PAGES=True, PAYWIRE_DEMO_SIGN_IN=True, PAYWIRE_ADMIN_USERS=user_id_for_email(ADMIN)
    )
    ann = subscribed(service, sim, "ann", "pro", quantity=2, advance_to=None)
    ann.ok("/api/subscription/change", {"plan": "pro", "interval": "month", "quantity": 3})
    ann.advance(HALF_FEB)
    ann.ok("/api/subscription/cancel")
    failures: list[str] = []
    page.on("requestfailed", lambda request: failures.append(f"{request.url[:80]} {request.failure}"))

    def bad_answer(response: Response) -> None:
        if response.status >= 400:
            failures.append(f"{response.url[:80]} {response.status}")

    page.on("response", bad_answer)

    sign_in(page, service.url, ADMIN)
    page.goto(f"{service.url}/admin?from=2026-02-01&through=2026-03-31&interval=day")

    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(page.get_by_test_id("mrr")).to_have_text("$30.00")
    for chart in CHARTS:
        image = page.get_by_test_id(f"chart-{chart}")
        expect(image).to_be_visible()
        assert image.evaluate("img => img.complete && img.naturalWidth > 0"), f"the {chart} chart was not drawn"
        assert image.get_attribute("alt")
    page.get_by_text("as a table").click()
    expect(page.get_by_role("region", name="MRR and movements by day")).to_contain_text("2026-02-01")
    check_accessibility(page)
    screenshot(page, "desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), "wider than a phone"
    check_accessibility(page)
    screenshot(page, "phone")
    page.get_by_label("By", exact=True).select_option("month")
    page.get_by_role("button", name="Show").click()
    page.get_by_text("as a table").click()
    expect(page.get_by_role("region", name="MRR and movements by month")).to_contain_text("2026-03", timeout=10_000)
    assert failures == []

    sign_in(page, service.url, "someone@example.com")
    refused = page.goto(f"{service.url}/admin")
    assert refused is not None and refused.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Admins only")
    expect(page.get_by_text(user_id_for_email("someone@example.com"))).to_be_visible()
