"""Rendering the subscriber's pages: one Jinja2 environment (autoescaped) over
`paywire/web/templates/pages/`, the filters the templates share, and flash messages.

Every template extends `base.html` and gets `request`, `user` (the signed-in `PageUser` or
None), `csrf_token` (for the hidden field of each POST form) and `flash` (or None).

Flash messages (POST-redirect-GET): `redirect_with_flash(url, text)` answers 303 and puts the
message in a short-lived cookie (`paywire_flash`, one minute, HttpOnly, SameSite=Lax); the next
rendered page shows it in its `role=status` area and deletes the cookie. The text is written by
paywire's own handlers, never taken from a request, and is escaped like everything else.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from paywire.web.pages import csrf
from paywire.web.pages.session import cookie_secure, page_user

FLASH_COOKIE = "paywire_flash"
FLASH_SECONDS = 60
FLASH_KINDS = ("info", "success", "error")
# Currencies without minor units (Stripe's list of zero-decimal currencies, the common ones).
ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof"}
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cad": "CA$", "aud": "A$", "chf": "CHF "}


@dataclass(frozen=True)
class Flash:
    text: str
    kind: str = "info"
    link: str | None = None
    link_text: str | None = None


def money(amount: int | None, currency: str = "usd") -> str:
    """An amount in the currency's smallest unit as people read it: `1000, usd` → `$10.00`."""
    if amount is None:
        return "—"
    code = currency.lower()
    sign = "-" if amount < 0 else ""
    value = abs(amount)
    number = f"{value:,}" if code in ZERO_DECIMAL else f"{value // 100:,}.{value % 100:02d}"
    symbol = SYMBOLS.get(code)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {code.upper()}"


def date(timestamp: int | float | None) -> str:
    """A Stripe time (Unix seconds) as a day, e.g. `1 March 2026`, in UTC as Stripe shows it."""
    if timestamp is None:
        return "—"
    moment = datetime.fromtimestamp(timestamp, UTC)
    return f"{moment.day} {moment:%B %Y}"


def words(key: str) -> str:
    """A catalog key as words: `email_support` → `Email support`."""
    return key.replace("_", " ").replace("-", " ").capitalize()


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("paywire.web", "templates/pages"),
        autoescape=select_autoescape(["html"], default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(money=money, date=date, words=words)
    return environment


templates = _environment()


def render(request: Request, template_name: str, *, status: int = 200, **values: Any) -> HTMLResponse:
    """A page: the template with the request's user, CSRF token and pending flash message."""
    flash = read_flash(request)
    values.setdefault("user", page_user(request))
    body = templates.get_template(template_name).render(
        request=request,
        csrf_token=csrf.csrf_token(request),
        flash=flash,
        **values,
    )
    response = HTMLResponse(body, status_code=status)
    csrf.remember(request, response)
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path="/", httponly=True, samesite="lax", secure=cookie_secure(request))
    return response


def redirect(url: str) -> RedirectResponse:
    """303 See Other: after a POST the browser GETs `url`."""
    return RedirectResponse(url, status_code=303)


def redirect_with_flash(
    request: Request,
    url: str,
    text: str,
    *,
    kind: str = "info",
    link: str | None = None,
    link_text: str | None = None,
) -> RedirectResponse:
    """303 to `url`, whose page then shows `text` (and a link to a path of this site)."""
    response = redirect(url)
    set_flash(request, response, Flash(text, kind, link, link_text))
    return response


def set_flash(request: Request, response: Any, flash: Flash) -> None:
    if flash.kind not in FLASH_KINDS:
        raise ValueError(f"flash kind must be one of {FLASH_KINDS}")
    data = {"t": flash.text, "k": flash.kind, "l": flash.link, "lt": flash.link_text}
    value = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    response.set_cookie(
        FLASH_COOKIE,
        value,
        max_age=FLASH_SECONDS,
        path="/",
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
    )


def read_flash(request: Request) -> Flash | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or len(raw) > 4096:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("t"), str):
        return None
    kind = str(data["k"]) if data.get("k") in FLASH_KINDS else "info"
    link = data.get("l")
    # Only a path of this site: the cookie is ours, but a link must never lead elsewhere.
    if not (isinstance(link, str) and is_local_path(link)):
        link = None
    link_text = data.get("lt") if isinstance(data.get("lt"), str) else None
    return Flash(data["t"], kind, link, link_text if link else None)


def is_local_path(target: str) -> bool:
    """A path of this site (`/account?x=1`), not a URL elsewhere (`//evil.example`, `/\\evil`)."""
    return (
        target.startswith("/")
        and not target.startswith(("//", "/\\"))
        and not any(c in target for c in "\\\r\n\t")
        and len(target) <= 2000
    )
