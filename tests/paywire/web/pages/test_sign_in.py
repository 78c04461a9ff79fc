"""The demo sign-in: an email becomes a session cookie; every form carries a CSRF token; the
sign-in is off wherever it could reach real accounts."""

from __future__ import annotations

from collections.abc import Callable
from http.cookies import SimpleCookie

import httpx
import jwt
from playwright.sync_api import Page, expect

from paywire.web.pages.session import user_id_for_email
from tests.paywire.conftest import AUTH_SECRET, Service
from tests.paywire.web.pages.conftest import check_accessibility, screenshot, sign_in
from tests.paywire.web.pages.forms import csrf_token_of, sign_in_over_http


def _set_cookies(response: httpx.Response) -> dict[str, str]:
    """Each Set-Cookie header of a response, by cookie name (the raw header)."""
    found: dict[str, str] = {}
    for header in response.headers.get_list("set-cookie"):
        found[header.split("=", 1)[0]] = header
    return found


def test_signing_in_sets_an_httponly_samesite_session_cookie(pages_service: Service) -> None:
    with pages_service.http() as http:
        page = http.get("/sign-in")
        assert page.status_code == 200
        assert "Demo sign-in." in page.text
        answer = http.post(
            "/sign-in", data={"csrf_token": csrf_token_of(page), "email": " Ann@Example.com ", "next": "/pricing"}
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/pricing"
        cookie = _set_cookies(answer)["paywire_session"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # APP_URL is http here
        parsed = SimpleCookie()
        parsed.load(cookie)
        claims = jwt.decode(parsed["paywire_session"].value, options={"verify_signature": False})
        assert claims["sub"] == user_id_for_email("ann@example.com") and claims["email"] == "ann@example.com"
        assert claims["exp"] - claims["iat"] <= 4 * 3600
        after = http.get("/sign-in")
    assert 'data-testid="signed-in-as">ann@example.com<' in after.text


def test_the_user_id_is_derived_from_the_email_stably() -> None:
    assert user_id_for_email("Ann@Example.com ") == user_id_for_email("ann@example.com")
    assert user_id_for_email("ann@example.com") != user_id_for_email("bob@example.com")
    assert user_id_for_email("ann@example.com").startswith("demo_") and len(user_id_for_email("x@y.z")) == 29


def test_the_session_cookie_is_secure_when_the_app_is_served_over_https(
    make_paywire_service: Callable[..., Service],
) -> None:
    service = make_paywire_service(
        with_worker=False, PAYWIRE_DEV=True, PAYWIRE_AUTH_SECRET="", APP_URL="https://billing.example.com"
    )
    with service.http() as http:
        page = http.get("/sign-in")
        assert "Secure" in _set_cookies(page)["paywire_csrf"]
        # httpx keeps Secure cookies off plain http, as a browser would: send it by hand.
        secret = SimpleCookie()
        secret.load(_set_cookies(page)["paywire_csrf"])
        answer = http.post(
            "/sign-in",
            data={"csrf_token": csrf_token_of(page), "email": "ann@example.com"},
            headers={"Cookie": f"paywire_csrf={secret['paywire_csrf'].value}"},
        )
    assert answer.status_code == 303, answer.text
    assert "Secure" in _set_cookies(answer)["paywire_session"]
    assert "Secure" in _set_cookies(answer)["paywire_csrf"]


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing(pages_service: Service) -> None:
    with pages_service.http() as http:
        good = csrf_token_of(http.get("/sign-in"))
        for data in ({"email": "eve@example.com"}, {"email": "eve@example.com", "csrf_token": good[:-2] + "xx"}):
            refused = http.post("/sign-in", data=data)
            assert refused.status_code == 403
            assert "security token is missing or out of date" in refused.text
            assert "paywire_session" not in _set_cookies(refused)
        # Another browser's token does not fit this browser's cookie.
        with pages_service.http() as other:
            foreign = csrf_token_of(other.get("/sign-in"))
        assert http.post("/sign-in", data={"email": "eve@example.com", "csrf_token": foreign}).status_code == 403
        # The right token, sent from another site.
        cross_site = http.post(
            "/sign-in",
            data={"email": "eve@example.com", "csrf_token": good},
            headers={"Origin": "https://evil.example"},
        )
        assert cross_site.status_code == 403 and "from another site" in cross_site.text
        still_out = http.get("/sign-in")
    assert "signed-in-as" not in still_out.text


def test_signing_out_needs_the_token_and_ends_the_session(pages_service: Service) -> None:
    with pages_service.http() as http:
        sign_in_over_http(http, "ann@example.com")
        assert http.post("/sign-out", data={}).status_code == 403
        assert "signed-in-as" in http.get("/sign-in").text
        token = csrf_token_of(http.get("/sign-in"))
        out = http.post("/sign-out", data={"csrf_token": token})
        assert out.status_code == 303
        assert "Max-Age=0" in _set_cookies(out)["paywire_session"] or "expires=" in _set_cookies(out)["paywire_session"]
        # The token of the signed-in session is dead after signing out.
        assert http.post("/sign-out", data={"csrf_token": token}).status_code == 403
        assert "signed-in-as" not in http.get("/sign-in").text


def test_a_bad_email_is_refused_on_the_page(pages_service: Service) -> None:
    with pages_service.http() as http:
        token = csrf_token_of(http.get("/sign-in"))
        answer = http.post("/sign-in", data={"csrf_token": token, "email": "not an email"})
    assert answer.status_code == 400 and "Enter an email address" in answer.text
    assert "paywire_session" not in _set_cookies(answer)


def test_after_signing_in_only_paths_of_this_site_are_followed(pages_service: Service) -> None:
    for target, expected in (
        ("//evil.example/x", "/pricing"),
        ("https://evil.example", "/pricing"),
        ("/account", "/account"),
    ):
        with pages_service.http() as http:
            token = csrf_token_of(http.get("/sign-in", params={"next": target}))
            answer = http.post("/sign-in", data={"csrf_token": token, "email": "a@example.com", "next": target})
        assert answer.headers["location"] == expected


def test_a_session_cookie_is_no_bearer_token_and_a_bearer_token_no_session(pages_service: Service) -> None:
    with pages_service.http() as http:
        answer = sign_in_over_http(http, "ann@example.com")
        parsed = SimpleCookie()
        parsed.load(_set_cookies(answer)["paywire_session"])
        cookie = parsed["paywire_session"].value
        assert http.get("/api/billing", headers={"Authorization": f"Bearer {cookie}"}).status_code == 401
    bearer = pages_service.token_for(user_id_for_email("ann@example.com"), "ann@example.com")
    with pages_service.http() as http:
        http.cookies.set("paywire_session", bearer)
        assert "signed-in-as" not in http.get("/sign-in").text


def test_the_demo_sign_in_never_signs_with_a_configured_secret_unless_asked(
    make_paywire_service: Callable[..., Service],
) -> None:
    # Dev mode on a host with its own PAYWIRE_AUTH_SECRET: sessions signed with it would let
    # anyone be anyone. Off.
    service = make_paywire_service(with_worker=False, PAYWIRE_DEV=True, PAYWIRE_AUTH_SECRET=AUTH_SECRET)
    with service.http() as http:
        assert http.get("/sign-in").status_code == 404
        token = csrf_token_of(http.get("/pricing"))
        refused = http.post("/sign-in", data={"csrf_token": token, "email": "admin@example.com"})
        assert refused.status_code == 404 and "paywire_session" not in _set_cookies(refused)
        # A session cookie signed with the service's own secret is not honoured either.
        now = 2_000_000_000
        forged = jwt.encode(
            {"sub": user_id_for_email("a@b.co"), "email": "a@b.co", "aud": "paywire-pages", "iat": 0, "exp": now},
            AUTH_SECRET,
            algorithm="HS256",
        )
        http.cookies.set("paywire_session", forged)
        assert "signed-in-as" not in http.get("/pricing").text


def test_outside_dev_mode_the_pages_need_paywire_pages_and_the_sign_in_its_own_switch(
    make_paywire_service: Callable[..., Service],
) -> None:
    plain = make_paywire_service(with_worker=False)
    with plain.http() as http:
        for path in ("/", "/pricing", "/sign-in", "/billing/success?session_id=cs_1"):
            assert http.get(path).status_code == 404, path
        assert http.post("/sign-in", data={"email": "a@b.co"}).status_code == 404
    pages_only = make_paywire_service(with_worker=False, PAYWIRE_PAGES=True)
    with pages_only.http() as http:
        assert http.get("/pricing").status_code == 200
        assert http.get("/sign-in").status_code == 404
    demo = make_paywire_service(with_worker=False, PAYWIRE_PAGES=True, PAYWIRE_DEMO_SIGN_IN=True)
    with demo.http() as http:
        sign_in_over_http(http, "ann@example.com")
        assert 'data-testid="signed-in-as">ann@example.com<' in http.get("/pricing").text


def test_the_sign_in_page_in_chromium_is_labelled_as_demo_and_accessible(pages_service: Service, page: Page) -> None:
    page.goto(f"{pages_service.url}/sign-in")
    expect(page.get_by_text("Demo sign-in.")).to_be_visible()
    check_accessibility(page)
    screenshot(page, "sign-in")
    page.get_by_role("button", name="Sign in", exact=True).click()  # no email
    expect(page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#email-error")).to_have_text("Enter an email address, like ann@example.com.")
    check_accessibility(page)
    sign_in(page, pages_service.url, "ann@example.com")
    expect(page.get_by_role("status")).to_contain_text("Signed in as ann@example.com.")
    check_accessibility(page)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("Signed out.")
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()


def test_a_refused_form_is_an_accessible_page(pages_service: Service, page: Page) -> None:
    page.goto(f"{pages_service.url}/sign-in")
    page.context.clear_cookies()  # the session's CSRF secret is gone, as after a long while
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="Form expired")).to_be_visible()
    check_accessibility(page)
    screenshot(page, "form-expired")
