"""The pages' demo sign-in: an email becomes a session cookie. Demo auth, not a login system.

Anyone may sign in as any email, without a password: that is the point of a demo, and why it
works only where nobody's real account can be reached through it:
- in dev mode with the public dev secret (no PAYWIRE_AUTH_SECRET configured), or
- where the operator asked for it with PAYWIRE_DEMO_SIGN_IN=true.
With a configured secret in dev mode (a staging host, a product's own key) it stays off unless
asked for. Real apps sign their users in themselves and call the API with bearer JWTs.

The user id is derived from the email: `demo_` and the first 24 hex digits of the SHA-256 of
the address trimmed and lower-cased (`Ann@Example.com` and `ann@example.com` are one user). It
is stable, fits Stripe's `client_reference_id`, keeps addresses out of logs, and cannot be a
user id of the product (those do not start with `demo_` unless the product chose so).

The cookie (`paywire_session`: HttpOnly, SameSite=Lax, Secure when APP_URL is https) holds an
HS256 JWT signed with the app's auth secret, like the bearer tokens, with `aud` set to
`paywire-pages`: a session cookie is refused as a bearer token, and a bearer token as a session.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlsplit

import jwt
from fastapi import Depends, HTTPException, Request, Response

from paywire.config import DEV_AUTH_SECRET
from paywire.context import PaywireContext
from paywire.web.auth import ALGORITHM, valid_user_id
from paywire.web.context import get_context

SESSION_COOKIE = "paywire_session"
AUDIENCE = "paywire-pages"
SESSION_SECONDS = 4 * 3600
USER_ID_PREFIX = "demo_"
MAX_EMAIL_LENGTH = 254
EMAIL = re.compile(r"^[^@\s<>\"']+@[^@\s<>\"']+\.[^@\s<>\"']+$")
_STATE_KEY = "paywire_page_user"


@dataclass(frozen=True)
class PageUser:
    user_id: str
    email: str


class SignInRequired(HTTPException):
    """Raised by `SignedInPageUser`: a 303 to the sign-in page, coming back to `next` after.
    An HTTPException, so it redirects wherever the route is mounted."""

    def __init__(self, next_path: str) -> None:
        self.location = "/sign-in?next=" + quote(next_path, safe="/")
        super().__init__(status_code=303, detail="Sign in first.", headers={"Location": self.location})


def normalized_email(email: str) -> str | None:
    """The address as paywire keeps it (trimmed, lower-cased), or None if it is not one."""
    address = email.strip().lower()
    if not address or len(address) > MAX_EMAIL_LENGTH or not EMAIL.match(address):
        return None
    return address if valid_user_id(address) else None


def user_id_for_email(email: str) -> str:
    """The demo user id of an email (see the module docstring)."""
    address = email.strip().lower()
    return USER_ID_PREFIX + hashlib.sha256(address.encode("utf-8")).hexdigest()[:24]


def demo_sign_in_enabled(context: PaywireContext) -> bool:
    settings = context.settings
    if settings.demo_sign_in:
        return True
    return settings.dev_mode and context.auth_secret == DEV_AUTH_SECRET


def issue_session(context: PaywireContext, user: PageUser, ttl: int = SESSION_SECONDS) -> str:
    now = int(time.time())
    claims = {"sub": user.user_id, "email": user.email, "aud": AUDIENCE, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, context.auth_secret, algorithm=ALGORITHM)


def read_session(context: PaywireContext, token: str) -> PageUser | None:
    """The user of a valid session token, or None (expired, forged, a bearer token…)."""
    try:
        claims = jwt.decode(
            token,
            context.auth_secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["sub", "exp", "aud", "email"]},
        )
    except jwt.InvalidTokenError:
        return None
    user_id, email = claims.get("sub"), claims.get("email")
    if not isinstance(user_id, str) or not isinstance(email, str) or not valid_user_id(user_id):
        return None
    if user_id != user_id_for_email(email):
        return None
    return PageUser(user_id, email)


def cookie_secure(request: Request) -> bool:
    """Secure cookies when the app is served over https (APP_URL)."""
    return get_context(request).settings.app_url.startswith("https://")


def start_session(request: Request, response: Response, user: PageUser) -> None:
    context = get_context(request)
    response.set_cookie(
        SESSION_COOKIE,
        issue_session(context, user),
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
    )
    setattr(request.state, _STATE_KEY, user)


def end_session(request: Request, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=cookie_secure(request))
    setattr(request.state, _STATE_KEY, None)


def page_user(request: Request) -> PageUser | None:
    """The signed-in user of this request, or None. Read once per request."""
    if hasattr(request.state, _STATE_KEY):
        found: PageUser | None = getattr(request.state, _STATE_KEY)
        return found
    context = get_context(request)
    token = request.cookies.get(SESSION_COOKIE)
    user = read_session(context, token) if token and demo_sign_in_enabled(context) else None
    setattr(request.state, _STATE_KEY, user)
    return user


def optional_page_user(request: Request) -> PageUser | None:
    """FastAPI dependency: the signed-in user, or None."""
    return page_user(request)


def signed_in_page_user(request: Request) -> PageUser:
    """FastAPI dependency: the signed-in user, or a 303 to `/sign-in?next=<this page>`."""
    user = page_user(request)
    if user is None:
        raise SignInRequired(_come_back_to(request))
    return user


def _come_back_to(request: Request) -> str:
    """Where to return after signing in: this page, or for a form post the page it was on."""
    if request.method in ("GET", "HEAD"):
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc == request.url.netloc and referer.path.startswith("/") and not referer.path.startswith("//"):
        return referer.path + (f"?{referer.query}" if referer.query else "")
    return "/pricing"


OptionalPageUser = Annotated[PageUser | None, Depends(optional_page_user)]
SignedInPageUser = Annotated[PageUser, Depends(signed_in_page_user)]
