"""Rendering the subscriber's pages: one Jinja2 environment (autoescaped) over
`paywire/web/templates/pages/`, the filters the templates share, and flash messages.

Every template extends `base.html` and gets `request`, `user` (the signed-in `PageUser` or
None), `csrf_token` (for the hidden field of each POST form) and `flash` (or None).

Flash messages (POST-redirect-GET): `redirect_with_flash(url, text)` answers 303 and puts the
message in a short-lived cookie (`paywire_flash`, one minute, HttpOnly, SameSite=Lax); the next
rendered page shows it in its `role=status` area and deletes the cookie. The text is written by
paywire's own handlers, never taken from a request, and is escaped like everything else. A
refusal's flash carries the status the API answers it with (and its Retry-After): the page it
leads to answers with that status, once, so a form never leaves the browser on a POST's answer
(a reload would send it again) and a script still tells a refusal from a success.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
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


# Catalog words that are initialisms, written as people write them.
INITIALISMS = {"api": "API", "sso": "SSO", "saml": "SAML", "csv": "CSV", "pdf": "PDF", "url": "URL", "ip": "IP"}


@dataclass(frozen=True)
class Flash:
    text: str
    kind: str = "info"
    link: str | None = None
    link_text: str | None = None
    status: int | None = None  # a refusal's status (4xx/5xx), for the page it leads to
    retry_after: str | None = None


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


def per_thousand(unit_amount_decimal: str, currency: str = "usd") -> str:
    """A price per unit (a decimal of the smallest unit) for 1,000 units: `"0.1"` → `$1.00`."""
    return money(int((Decimal(unit_amount_decimal) * 1000).to_integral_value(ROUND_HALF_UP)), currency)


def date(timestamp: int | float | None) -> str:
    """A Stripe time (Unix seconds) as a day, e.g. `1 March 2026`, in UTC as Stripe shows it."""
    if timestamp is None:
        return "—"
    moment = datetime.fromtimestamp(timestamp, UTC)
    return f"{moment.day} {moment:%B %Y}"


def words(key: str) -> str:
    """A catalog key as words: `email_support` → `Email support`, `api_access` → `API access`."""
    parts = key.replace("_", " ").replace("-", " ").lower().split()
    shown = [INITIALISMS.get(part, part) for part in parts]
    if shown and shown[0] == parts[0]:
        shown[0] = shown[0].capitalize()
    return " ".join(shown)


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("paywire.web", "templates/pages"),
        autoescape=select_autoescape(["html"], default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(money=money, date=date, words=words, per_thousand=per_thousand)
    return environment


templates = _environment()


def render(request: Request, template_name: str, *, status: int | None = None, **values: Any) -> HTMLResponse:
    """A page: the template with the request's user, CSRF token and pending flash message (a
    caller may pass `flash` itself, e.g. None once it shows the message elsewhere). Its status:
    `status`, else a refusal's flash's, else 200."""
    pending = read_flash(request)
    values.setdefault("flash", pending)
    values.setdefault("user", page_user(request))
    body = templates.get_template(template_name).render(
        request=request,
        csrf_token=csrf.csrf_token(request),
        **values,
    )
    refused = pending.status if pending is not None else None
    response = HTMLResponse(body, status_code=status or refused or 200)
    if status is None and pending is not None and pending.retry_after:
        response.headers["Retry-After"] = pending.retry_after
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
    status: int | None = None,
    retry_after: str | None = None,
) -> RedirectResponse:
    """303 to `url`, whose page then shows `text` (and a link to a path of this site), and
    answers with `status` if given (a refusal's)."""
    response = redirect(url)
    set_flash(request, response, Flash(text, kind, link, link_text, status, retry_after))
    return response


def set_flash(request: Request, response: Any, flash: Flash) -> None:
    if flash.kind not in FLASH_KINDS:
        raise ValueError(f"flash kind must be one of {FLASH_KINDS}")
    data = {"t": flash.text, "k": flash.kind, "l": flash.link, "lt": flash.link_text, "s": flash.status}
    if flash.retry_after:
        data["r"] = flash.retry_after
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
    status = data.get("s")
    # Only a refusal's status: the cookie is ours, but a page never answers 1xx-3xx from it.
    refused = status if isinstance(status, int) and 400 <= status <= 599 else None
    retry_after = data.get("r") if refused and isinstance(data.get("r"), str) and data["r"].isdigit() else None
    return Flash(data["t"], kind, link, link_text if link else None, refused, retry_after)


def is_local_path(target: str) -> bool:
    """A path of this site (`/account?x=1`), not a URL elsewhere (`//evil.example`, `/\\evil`)."""
    return (
        target.startswith("/")
        and not target.startswith(("//", "/\\"))
        and not any(c in target for c in "\\\r\n\t")
        and len(target) <= 2000
    )
