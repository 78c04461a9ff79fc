"""The "update your card" link in notices: `{APP_URL}/billing/update-payment?t=…`.

A portal session expires within minutes, and a mail is read days later, so the mail carries
this link instead: signed (HS256 with `PAYWIRE_AUTH_SECRET`), for one user (`sub`), expiring
after `PAYWIRE_UPDATE_PAYMENT_LINK_DAYS`. Opening it makes a fresh portal session in its
`payment_method_update` flow for that user's customer only. Its audience claim keeps it from
ever passing as a bearer token (the API refuses a token with an audience), and a bearer
token from ever opening the portal here.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

import jwt

from paywire.billing.errors import BillingError
from paywire.config import Settings, require_auth_secret

AUDIENCE = "paywire:update-payment"
PATH = "/billing/update-payment"
DAY = 86400


class PaymentLinkInvalid(BillingError):
    """The link is not one paywire signed, or it has expired."""


def update_payment_token(settings: Settings, user_id: str, *, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    claims = {"sub": user_id, "aud": AUDIENCE, "iat": issued, "exp": issued + settings.update_payment_link_days * DAY}
    return jwt.encode(claims, require_auth_secret(settings), algorithm="HS256")


def update_payment_url(settings: Settings, user_id: str, *, now: float | None = None) -> str:
    return settings.app_link(PATH + "?" + urlencode({"t": update_payment_token(settings, user_id, now=now)}))


def user_of_link(settings: Settings, token: str) -> str:
    """The user a link was signed for; `PaymentLinkInvalid` for anything else."""
    try:
        claims = jwt.decode(
            token,
            require_auth_secret(settings),
            algorithms=["HS256"],
            audience=AUDIENCE,
            options={"require": ["sub", "exp", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise PaymentLinkInvalid("This link has expired: sign in to update your card.") from None
    except jwt.InvalidTokenError:
        raise PaymentLinkInvalid("This link is not valid.") from None
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise PaymentLinkInvalid("This link is not valid.")
    return subject
