"""The Stripe customer portal, for the caller's own customer only."""

from __future__ import annotations

import time

from sqlalchemy.orm import Session

from paywire.billing.errors import BillingUnavailable, NoBillingAccount
from paywire.catalog.portal import find_configuration
from paywire.config import Settings
from paywire.db.repositories import customers
from paywire.stripe import StripeGateway, StripeUnavailable
from paywire.stripe import idempotency as keys

# A portal link is for immediate use; repeated clicks within a minute reuse one session.
PORTAL_WINDOW_SECONDS = 60


def open_portal(session: Session, gateway: StripeGateway, settings: Settings, *, user_id: str) -> str:
    """The URL of a portal session for `user_id`'s customer; no customer, no portal."""
    customer = customers.find_by_user(session, user_id)
    if customer is None:
        raise NoBillingAccount("No billing account yet: subscribe or buy a pass first.")
    try:
        # paywire's configuration (from `catalog push`) lets customers switch plans; without
        # one, Stripe's default configuration still lets them cancel and pay.
        configuration = find_configuration(gateway)
        configuration_id = str(configuration["id"]) if configuration else None
        created = gateway.create_portal_session(
            customer_id=customer.stripe_customer_id,
            return_url=settings.app_link(settings.portal_return_path),
            idempotency_key=keys.portal_session(
                user_id, keys.time_bucket(time.time(), PORTAL_WINDOW_SECONDS), configuration_id or ""
            ),
            configuration=configuration_id,
        )
    except StripeUnavailable as exc:
        raise BillingUnavailable("Billing is temporarily unavailable; try again.") from exc
    return str(created["url"])
