"""What the tests of `charge.dispute.*` share: a disputed pass's order, and a dispute mirrored
for a subscription's invoice."""

from __future__ import annotations

from paywire.db.models import Order
from tests.paywire.events.handlers.harness import EventFixture, Handling


def disputed_pass(handling: Handling, fixture: EventFixture, user_id: str = "user_disputed") -> Order:
    """The disputed payment is a pass the user bought (its order names the payment intent)."""
    customer = str(fixture.object.get("customer") or _charge(fixture)["customer"])
    handling.link(customer, user_id)
    return handling.paid_order(fixture.object["payment_intent"], customer, user_id)


def disputed_invoice(handling: Handling, fixture: EventFixture, user_id: str = "user_disputed") -> str:
    """The disputed payment paid a subscription's invoice instead: the subscription's id."""
    handling.link(str(_charge(fixture)["customer"]), user_id)
    handling.stripe.invoices_paid[fixture.object["payment_intent"]] = "in_disputed"
    parent = {"subscription_details": {"subscription": "sub_disputed"}}
    handling.stripe.hold({"invoice": {"in_disputed": {"id": "in_disputed", "parent": parent}}})
    return "sub_disputed"


def _charge(fixture: EventFixture) -> dict[str, object]:
    [charge] = fixture.stripe["charge"].values()
    return dict(charge)
