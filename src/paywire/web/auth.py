"""Bearer JWTs (HS256): `sub` is the user id, `email` their address, `exp` required.

paywire does not sign users in; the product does, and hands paywire its tokens. Only the
dev pages issue tokens, signed with the dev secret, in dev mode.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import Depends, Request

from paywire.web.context import Context
from paywire.web.errors import ApiError

ALGORITHM = "HS256"
BEARER = {"WWW-Authenticate": "Bearer"}


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
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise ApiError(401, "The token names no user.", headers=BEARER)
    return Principal(subject, email if isinstance(email, str) else None)


def current_user(request: Request, context: Context) -> Principal:
    """FastAPI dependency: the authenticated caller, or 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Missing bearer token.", headers=BEARER)
    return read_token(token.strip(), context.auth_secret, context.settings.auth_token_leeway)


CurrentUser = Annotated[Principal, Depends(current_user)]
