"""The Stripe objects paywire reads whole, and how each is read.

A read of one object is always made the same way (same path, same expansions), so two
readers of one object share a read, and the mirror compares like with like. Naming the kind
(`Kind.SUBSCRIPTION`) instead of a gateway method lets the type checker follow every read.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    CUSTOMER = "customer"
    SUBSCRIPTION = "subscription"
    SUBSCRIPTION_SCHEDULE = "subscription_schedule"
    INVOICE = "invoice"
    CHECKOUT_SESSION = "checkout.session"
    PAYMENT_INTENT = "payment_intent"
    CHARGE = "charge"
    REFUND = "refund"
    DISPUTE = "dispute"
    TEST_CLOCK = "test_helpers.test_clock"


@dataclass(frozen=True)
class Retrieval:
    path: str  # below /v1/
    expand: tuple[str, ...] = ()
    test_mode_only: bool = False


# Expanded with the objects the mirror keeps under the payload rule: their test clock's time
# as the same request saw it says where the read stands in the object's time
# (`paywire.mirror.payloads`); the mirror keeps the clock's id, as Stripe's payloads do
# (`without_clock`).
CLOCK = "test_clock"

RETRIEVALS: dict[Kind, Retrieval] = {
    Kind.CUSTOMER: Retrieval("customers"),
    # The plan is found from the price; a price id alone would cost another read. The
    # discounts' coupons say which last forever (the revenue ledger deducts those).
    Kind.SUBSCRIPTION: Retrieval("subscriptions", ("items.data.price", "discounts.source.coupon", CLOCK)),
    Kind.SUBSCRIPTION_SCHEDULE: Retrieval("subscription_schedules", ("phases.items.price",)),
    Kind.INVOICE: Retrieval("invoices", (CLOCK,)),
    Kind.CHECKOUT_SESSION: Retrieval("checkout/sessions"),
    Kind.PAYMENT_INTENT: Retrieval("payment_intents"),
    Kind.CHARGE: Retrieval("charges"),
    Kind.REFUND: Retrieval("refunds"),
    Kind.DISPUTE: Retrieval("disputes"),
    Kind.TEST_CLOCK: Retrieval("test_helpers/test_clocks", test_mode_only=True),
}


def without_clock(found: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """An object read with its test clock expanded, as Stripe's payloads show it (the clock's
    id), and the clock as the read saw it (None: on no clock, or not expanded)."""
    clock = found.get(CLOCK)
    if not isinstance(clock, dict):
        return found, None
    return {**found, CLOCK: clock.get("id")}, clock
