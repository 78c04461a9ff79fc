"""Bearer JWTs (HS256): `sub` is the user id, `email` their address, `exp` required.

paywire does not sign users in; the product does, and hands paywire its tokens. Only the
dev pages issue tokens, signed with the dev secret, in dev mode.
"""

from __future__ import annotations

import time
import unicodedata
from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import Depends, Request

from paywire.web.context import Context
from paywire.web.errors import ApiError

ALGORITHM = "HS256"
BEARER = {"WWW-Authenticate": "Bearer"}
# Stripe takes at most 200 characters in `client_reference_id`, where the user id goes.
MAX_USER_ID_LENGTH = 200
# Control, format (e.g. bidi overrides), separator and unassigned characters: none belongs in a
# user id, and NUL is refused by PostgreSQL (a 500) while a newline forges log lines.
_FORBIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


@dataclass(frozen=True)
class Principal:
    user_id: str
    email: str | None


def issue_token(secret: str, user_id: str, email: str | None, ttl: int = 3600) -> str:
    now = int(time.time())
    claims: dict[str, object] = {"sub": user_id, "iat": now, "exp": now + ttl}
    if email:
        claims["email"] = email
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_token(token: str, secret: str, leeway: int = 0) -> Principal:
    """The principal in a valid token; `ApiError(401)` for anything else."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "exp"]},
            leeway=leeway,
        )
    except jwt.ExpiredSignatureError:
        raise ApiError(401, "The token has expired.", headers=BEARER) from None
    except jwt.InvalidTokenError:
        raise ApiError(401, "The token is not valid.", headers=BEARER) from None
    subject = claims.get("sub")
    email = claims.get("email")
    if not isinstance(subject, str) or not valid_user_id(subject):
        raise ApiError(401, "The token names no user.", headers=BEARER)
    return Principal(subject, email if isinstance(email, str) else None)


def valid_user_id(user_id: str) -> bool:
    """A user id paywire can store, log and send to Stripe as it is."""
    return (
        0 < len(user_id) <= MAX_USER_ID_LENGTH
        and not user_id.isspace()
        and not any(unicodedata.category(c) in _FORBIDDEN_CATEGORIES for c in user_id)
    )


def current_user(request: Request, context: Context) -> Principal:
    """FastAPI dependency: the authenticated caller, or 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Missing bearer token.", headers=BEARER)
    return read_token(token.strip(), context.auth_secret, context.settings.auth_token_leeway)


CurrentUser = Annotated[Principal, Depends(current_user)]
