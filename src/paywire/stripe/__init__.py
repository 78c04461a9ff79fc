"""The only code that talks to Stripe: the official SDK behind one gateway."""

from paywire.stripe.budget import Priority, at_priority, current_priority, set_thread_priority
from paywire.stripe.client import PINNED_API_VERSION
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
from paywire.stripe.gateway import StripeGateway
from paywire.stripe.ids import id_of
from paywire.stripe.objects import Kind

__all__ = [
    "PINNED_API_VERSION",
    "CardDeclined",
    "Kind",
    "Priority",
    "StripeError",
    "StripeGateway",
    "StripeIdempotencyConflict",
    "StripeMisconfigured",
    "StripeNotFound",
    "StripeRejected",
    "StripeUnavailable",
    "WebhookSignatureInvalid",
    "at_priority",
    "current_priority",
    "id_of",
    "set_thread_priority",
]
