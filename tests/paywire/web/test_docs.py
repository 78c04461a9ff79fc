"""`/docs` in dev mode works offline: Swagger UI's script and stylesheet come from this
service, and the page renders the API with every request that would leave the machine refused."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Page, Route, expect

from tests.paywire.conftest import Service
from tests.paywire.web.pages.conftest import browser, page, pages_service  # noqa: F401 - fixtures


def test_the_api_docs_render_with_nothing_but_localhost_reachable(pages_service: Service, page: Page) -> None:  # noqa: F811
    left_the_machine: list[str] = []

    def only_localhost(route: Route) -> None:
        host = urlsplit(route.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            left_the_machine.append(route.request.url)
            route.abort()

    page.route("**/*", only_localhost)
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(f"{pages_service.url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("paywire")
    expect(page.get_by_text("/api/billing", exact=True).first).to_be_visible()
    assert left_the_machine == [] and failed == []


def test_the_docs_are_not_served_outside_dev_mode(paywire_service: Service) -> None:
    with paywire_service.http() as http:
        assert http.get("/docs").status_code == 404
        assert http.get("/docs/assets/swagger-ui-bundle.js").status_code == 404
        assert http.get("/openapi.json").status_code == 404
