"""The Checkout Sessions paywire asks Stripe for: subscription and one-time purchase.

Pure: every parameter comes from the catalog's price, the settings and the user, never from
the client. Kept apart from the flow in `paywire.billing.checkout`, which decides *whether*
and *which* session to open.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from paywire.catalog import Catalog

Params = dict[str, Any]


@dataclass(frozen=True)
class Destination:
    """A subscription to a seller's plan: each of its invoices is paid to the seller's connected
    account (`transfer_data`), the platform keeping `fee_percent` (`application_fee_percent`);
    `on_behalf_of`: the seller is the settlement merchant."""

    account: str
    seller_user_id: str
    fee_percent: Decimal
    on_behalf_of: bool = False


def subscription_checkout_params(
    *,
    user_id: str,
    customer_id: str,
    price_id: str,
    quantity: int,
    plan: str,
    interval: str,
    trial_days: int,
    automatic_tax: bool,
    success_url: str,
    cancel_url: str,
    tax_id_collection: bool = False,
    metered_price_ids: Sequence[str] = (),
    destination: Destination | None = None,
    terms: Terms | None = None,
) -> Params:
    """Checkout in subscription mode. The subscription exists only after payment, so the
    metadata rides on `subscription_data` to be found on the subscription itself. A hybrid
    plan's metered prices are items of the same subscription (without a quantity: usage is
    reported, not bought)."""
    metadata = {"user_id": user_id, "plan": plan, "interval": interval}
    if destination is not None:
        metadata["seller"] = destination.seller_user_id
    subscription_data: Params = {"metadata": metadata}
    if destination is not None:
        subscription_data["transfer_data"] = {"destination": destination.account}
        subscription_data["application_fee_percent"] = str(destination.fee_percent)
        if destination.on_behalf_of:
            subscription_data["on_behalf_of"] = destination.account
    if trial_days > 0:
        subscription_data["trial_period_days"] = trial_days
    params: Params = {
        "mode": "subscription",
        "customer": customer_id,
        "client_reference_id": user_id,
        "line_items": [{"price": price_id, "quantity": quantity}, *({"price": m} for m in metered_price_ids)],
        "allow_promotion_codes": True,
        "success_url": success_url,
        "cancel_url": cancel_url,
        "metadata": {**metadata, "quantity": str(quantity)},
        "subscription_data": subscription_data,
    }
    _add_tax(params, automatic_tax, tax_id_collection)
    _add_terms(params, terms)
    return params


def purchase_checkout_params(
    *,
    user_id: str,
    customer_id: str,
    price_id: str,
    product: str,
    automatic_tax: bool,
    success_url: str,
    cancel_url: str,
    tax_id_collection: bool = False,
    description: str | None = None,
    terms: Terms | None = None,
) -> Params:
    """Checkout in payment mode for a one-time product (the pass). As a shop would: Stripe makes
    a paid invoice for it (`invoice_creation`, with its receipt), and keeps the card on the
    customer for the next purchase (`setup_future_usage`, which Checkout tells the payer)."""
    metadata = {"user_id": user_id, "product": product}
    invoice_data: Params = {"metadata": metadata}
    payment_intent_data: Params = {"metadata": metadata, "setup_future_usage": "on_session"}
    if description:
        invoice_data["description"] = description
        payment_intent_data["description"] = description
    params: Params = {
        "mode": "payment",
        "customer": customer_id,
        "client_reference_id": user_id,
        "line_items": [{"price": price_id, "quantity": 1}],
        "allow_promotion_codes": True,
        "success_url": success_url,
        "cancel_url": cancel_url,
        "metadata": metadata,
        "payment_intent_data": payment_intent_data,
        "invoice_creation": {"enabled": True, "invoice_data": invoice_data},
    }
    _add_tax(params, automatic_tax, tax_id_collection)
    _add_terms(params, terms)
    return params


@dataclass(frozen=True)
class Terms:
    """What Checkout asks the payer to agree to (the catalog's `terms_of_service`), and the
    refund policy shown beside it."""

    terms_of_service: bool
    refund_policy: str | None = None

    @classmethod
    def of(cls, catalog: Catalog) -> Terms | None:
        if not catalog.terms_of_service and not catalog.refund_policy:
            return None
        return cls(catalog.terms_of_service, catalog.refund_policy)


def _add_terms(params: Params, terms: Terms | None) -> None:
    if terms is None:
        return
    if not terms.terms_of_service:
        return
    params["consent_collection"] = {"terms_of_service": "required"}
    if terms.refund_policy:
        # Stripe shows this beside the checkbox (only with the terms asked for).
        params["custom_text"] = {"terms_of_service_acceptance": {"message": terms.refund_policy}}


def _add_tax(params: Params, automatic_tax: bool, tax_id_collection: bool = False) -> None:
    if automatic_tax:
        params["automatic_tax"] = {"enabled": True}
        # Tax needs an address; Checkout collects it and saves it on the existing customer.
        params["customer_update"] = {"address": "auto", "name": "auto"}
    if tax_id_collection:
        params["tax_id_collection"] = {"enabled": True}
        # A tax id belongs with the business name it was issued to, saved on the customer.
        params["customer_update"] = {**params.get("customer_update", {}), "name": "auto"}
