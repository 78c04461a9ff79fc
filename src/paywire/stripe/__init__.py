"""The only code that talks to Stripe: one gateway around the official SDK."""

from paywire.stripe.errors import (
    CardDeclined,
    StripeError,
    StripeIdempotencyConflict,
    StripeMisconfigured,
    StripeNotFound,
    StripeRejected,
    StripeUnavailable,
    WebhookSignatureInvalid,
)
from paywire.stripe.gateway import PINNED_API_VERSION, StripeGateway, verify_webhook

__all__ = [
    "PINNED_API_VERSION",
    "CardDeclined",
    "StripeError",
    "StripeGateway",
    "StripeIdempotencyConflict",
    "StripeMisconfigured",
    "StripeNotFound",
    "StripeRejected",
    "StripeUnavailable",
    "WebhookSignatureInvalid",
    "verify_webhook",
]
