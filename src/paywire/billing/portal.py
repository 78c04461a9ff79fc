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
CARD_UPDATE_FLOW = {"type": "payment_method_update"}


def open_portal(
    session: Session, gateway: StripeGateway, settings: Settings, *, user_id: str, card_update: bool = False
) -> str:
    """The URL of a portal session for `user_id`'s customer; no customer, no portal.
    `card_update`: the session opens in the portal's `payment_method_update` flow and comes
    back to the account page when the card is saved (Stripe then retries the open invoice)."""
    customer = customers.find_by_user(session, user_id)
    if customer is None:
        raise NoBillingAccount("No billing account yet: subscribe or buy a pass first.")
    try:
        # paywire's configuration (from `catalog push`) lets customers switch plans; without
        # one, Stripe's default configuration still lets them cancel and pay.
        configuration = find_configuration(gateway)
        configuration_id = str(configuration["id"]) if configuration else None
        return_url = settings.app_link(settings.portal_return_path)
        flow = CARD_UPDATE_FLOW | {"after_completion": {"type": "redirect", "redirect": {"return_url": return_url}}}
        created = gateway.create_portal_session(
            customer_id=customer.stripe_customer_id,
            return_url=return_url,
            idempotency_key=keys.portal_session(
                user_id,
                keys.time_bucket(time.time(), PORTAL_WINDOW_SECONDS),
                (configuration_id or "") + (":card" if card_update else ""),
            ),
            configuration=configuration_id,
            flow_data=flow if card_update else None,
        )
    except StripeUnavailable as exc:
        raise BillingUnavailable("Billing is temporarily unavailable; try again.") from exc
    return str(created["url"])
