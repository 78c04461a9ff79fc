"""Billing outcomes a caller can act on. The web edge maps each to an HTTP status, once.

`field` names the request field at fault, when there is one, for `{"error": {"field"}}`.
"""

from __future__ import annotations


class BillingError(Exception):
    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field


class InvalidChoice(BillingError):
    """The request names nothing the catalog sells, or mixes plan and product."""


class PlanNotFound(InvalidChoice):
    field = "plan"


class ProductNotFound(InvalidChoice):
    field = "product"


class IntervalNotOffered(InvalidChoice):
    field = "interval"


class InvalidQuantity(InvalidChoice):
    field = "quantity"


class AlreadySubscribed(BillingError):
    """The user has a live subscription: change plan or manage it in the portal instead."""


class NoBillingAccount(BillingError):
    """The user never started a checkout, so there is no Stripe customer to manage."""


class PriceUnavailable(BillingError):
    """The catalog's price is missing or drifted in Stripe (`paywire catalog push`)."""


class BillingUnavailable(BillingError):
    """Stripe cannot be reached right now; nothing changed, try again shortly."""


class AccessDenied(BillingError):
    """The user's entitlement lacks a feature or plan; `reason` says why."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class NoSubscription(BillingError):
    """The user has no subscription to act on (or named one that is not theirs)."""

    field = "subscription"


class SubscriptionConflict(BillingError):
    """The request does not fit the subscription as it is now (already on that plan, a change
    already pending, the wrong lifecycle state); `code` says which, for clients to act on."""

    def __init__(self, message: str, *, code: str, field: str | None = None, **details: object) -> None:
        super().__init__(message, field=field)
        self.code = code
        self.details = details


class PromotionCodeRejected(InvalidChoice):
    """The promotion code cannot be applied; `reason` is unknown | inactive | expired |
    exhausted | inapplicable | already_applied."""

    field = "promotion_code"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class AdminOnly(BillingError):
    """Only a configured admin (`PAYWIRE_ADMIN_USERS`) may do this."""


class TooManyCheckouts(BillingError):
    """The user started as many checkouts as the window allows; `retry_after` seconds until
    the next may start."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many checkouts started; try again in {retry_after} s.")
        self.retry_after = retry_after


class NotASeller(BillingError):
    """The caller has not become a seller (`POST /api/seller/onboarding` starts it)."""


class SellerUnavailable(BillingError):
    """The seller named cannot sell now (`code`: `seller_not_found`, `seller_not_enabled`,
    `own_product`), said in words."""

    field = "seller"

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class Refused(BillingError):
    """A refund or a dispute's answer refused before anything changed (`code` says why, for
    clients: `amount_too_large`, `not_refundable`, `charge_disputed`, `dispute_closed`,
    `evidence_submitted`, `refund_in_progress`, …; `status`: the HTTP status it maps to)."""

    def __init__(self, message: str, *, code: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message, field=field)
        self.code = code
        self.status = status


class PaymentNotFound(BillingError):
    """No payment with that id (as `GET /api/billing/payments` lists them) is known."""

    field = "payment"
