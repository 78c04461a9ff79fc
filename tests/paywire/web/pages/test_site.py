"""What every page shares: an address the site has no page for answers a 404 page in the
site's layout, while programs calling the API get the JSON error shape."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.paywire.conftest import Service
from tests.paywire.web.pages.conftest import check_accessibility


def test_an_unknown_page_is_a_404_page_in_the_sites_layout(pages_service: Service, page: Page) -> None:
    answer = page.goto(f"{pages_service.url}/no-such-page")
    assert answer is not None and answer.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(page.get_by_role("link", name="Back to pricing")).to_be_visible()
    assert "detail" not in page.content()
    check_accessibility(page)
    with pages_service.http() as http:
        api = http.get("/api/no-such-route", headers={"accept": "text/html"})
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"
