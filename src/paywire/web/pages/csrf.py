"""CSRF protection of the pages' forms: a per-session secret in a cookie, a token derived
from it in each form, and the browser's Origin (or Referer) checked when it sends one.

The cookie (`paywire_csrf`: random, HttpOnly, SameSite=Lax) is set on the first page that
renders a form and replaced at sign-in and sign-out. The form's token is an HMAC-SHA256 of
that secret under the app's auth secret, so neither can be chosen by someone who can plant a
cookie but does not know the key. `checked_form` reads a POST's urlencoded body and refuses
with 403 (a page saying why) when the token is missing or wrong, or when the request comes
from another site; every POST form of the pages goes through it.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from urllib.parse import parse_qsl, urlsplit

from fastapi import Request, Response

from paywire.web.context import get_context
from paywire.web.pages.errors import PageError

CSRF_COOKIE = "paywire_csrf"
FIELD = "csrf_token"
MAX_FORM_BYTES = 16 * 1024
_SECRET_STATE = "paywire_csrf_secret"
_NEW_STATE = "paywire_csrf_new"
_FORGED = (
    "This form could not be accepted: its security token is missing or out of date "
    "(it may have been open in another tab while you signed in or out). Go back, reload the page and try again."
)


def _token_of(request: Request, secret: str) -> str:
    key = get_context(request).auth_secret.encode()
    digest = hmac.digest(key, b"paywire-pages-csrf\0" + secret.encode(), "sha256")
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _secret(request: Request) -> str:
    found = getattr(request.state, _SECRET_STATE, None)
    if isinstance(found, str):
        return found
    secret = request.cookies.get(CSRF_COOKIE, "")
    if not (32 <= len(secret) <= 64 and secret.replace("-", "").replace("_", "").isalnum()):
        secret = secrets.token_urlsafe(32)
        setattr(request.state, _NEW_STATE, True)
    setattr(request.state, _SECRET_STATE, secret)
    return secret


def csrf_token(request: Request) -> str:
    """The token for this session's forms (creating the session's secret if it has none)."""
    return _token_of(request, _secret(request))


def rotate(request: Request) -> None:
    """A new secret for this browser (at sign-in and sign-out): tokens of before stop working."""
    setattr(request.state, _SECRET_STATE, secrets.token_urlsafe(32))
    setattr(request.state, _NEW_STATE, True)


def remember(request: Request, response: Response) -> None:
    """Set the cookie on `response` if this request created or rotated the secret."""
    if getattr(request.state, _NEW_STATE, False):
        secure = get_context(request).settings.app_url.startswith("https://")
        response.set_cookie(CSRF_COOKIE, _secret(request), path="/", httponly=True, samesite="lax", secure=secure)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_site_request(request: Request) -> bool:
    """False when the browser says the request comes from another origin (Origin, else Referer)."""
    allowed = {_origin(get_context(request).settings.app_url), _origin(str(request.base_url))}
    origin = request.headers.get("origin")
    if origin is not None:
        return origin.lower() in allowed
    referer = request.headers.get("referer")
    if referer:
        return _origin(referer) in allowed
    return True


async def checked_form(request: Request) -> dict[str, str]:
    """The POST's form fields (without the token), once its CSRF token and origin are right."""
    if not same_site_request(request):
        raise PageError(403, "Request refused", "This form was sent from another site, so it was not accepted.")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("", "application/x-www-form-urlencoded"):
        raise PageError(403, "Request refused", "This page accepts only its own forms.")
    declared = request.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise PageError(413, "Request refused", "The form is too large.")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_FORM_BYTES:
            raise PageError(413, "Request refused", "The form is too large.")
    try:
        fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50))
    except (UnicodeDecodeError, ValueError):
        raise PageError(400, "Request refused", "The form could not be read.") from None
    sent = fields.pop(FIELD, "")
    secret = request.cookies.get(CSRF_COOKIE, "")
    if not sent or not secret or not hmac.compare_digest(sent.encode(), _token_of(request, secret).encode()):
        raise PageError(403, "Form expired", _FORGED)
    return fields
