"""Refunds in the mirror (`refunds`), each under the version rule, and the facts a refund's
state shows: `refund_issued:<refund>` while it is on its way or done (the customer's "your
refund is on its way"), `refund_failed:<refund>` once the bank sent it back (the team is told;
the money stayed with the merchant).

Whose refund and of which payment: paywire's own refunds say so in their metadata
(`user_id`, `paywire_payment`, `paywire_requested_by`); for one made elsewhere (the Dashboard)
the caller finds them (`paywire.events.refund_appliers`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from paywire.db.models import Refund
from paywire.mirror.write import write_versioned
from paywire.outbox import Fact
from paywire.stripe.ids import id_of

# A refund the customer will see (or already sees) on their statement.
ISSUED = ("succeeded", "pending")
# The metadata paywire puts on the refunds it makes.
PAYMENT_KEY = "paywire_payment"
REQUESTED_BY_KEY = "paywire_requested_by"


def payment_of(refund: dict[str, Any]) -> str | None:
    """The payment (`in_…`, `cs_…`) a refund paywire made names in its metadata."""
    found = (refund.get("metadata") or {}).get(PAYMENT_KEY)
    return str(found) if found else None


def refund_values(refund: dict[str, Any], *, user_id: str | None, payment_id: str | None) -> dict[str, Any]:
    """What the mirror keeps of a refund. Pure."""
    metadata = refund.get("metadata") or {}
    return {
        "id": refund["id"],
        "charge_id": id_of(refund.get("charge")),
        "payment_intent_id": id_of(refund.get("payment_intent")),
        "payment_id": payment_id,
        "stripe_customer_id": id_of(refund.get("customer")),
        "user_id": user_id,
        "amount": int(refund.get("amount") or 0),
        "currency": str(refund.get("currency") or ""),
        "reason": refund.get("reason"),
        "status": str(refund.get("status") or "pending"),
        "failure_reason": refund.get("failure_reason"),
        "requested_by": metadata.get(REQUESTED_BY_KEY) or None,
        "stripe_created": int(refund.get("created") or 0),
    }


def write_refund(
    session: Session, refund: dict[str, Any], *, version: int, user_id: str | None, payment_id: str | None
) -> bool:
    """Write the refund as read at `version`; False if a newer read is stored."""
    values = {**refund_values(refund, user_id=user_id, payment_id=payment_id), "stripe_version": version}
    return write_versioned(session, Refund, values)


def refund_facts(refund: dict[str, Any], *, user_id: str | None, payment_id: str | None) -> list[Fact]:
    """The facts a refund's state shows (by the refund's id: two partial refunds are two facts,
    one refund seen by several events is one). Pure."""
    refund_id = refund["id"]
    payload = {
        "refund_id": refund_id,
        "charge_id": id_of(refund.get("charge")),
        "payment_intent_id": id_of(refund.get("payment_intent")),
        "payment_id": payment_id,
        "amount_refunded": refund.get("amount"),
        "currency": refund.get("currency"),
        "reason": refund.get("reason"),
    }
    status = refund.get("status")
    if status in ISSUED:
        return [Fact("refund_issued", f"refund_issued:{refund_id}", user_id, refund_id, payload)]
    if status == "failed":
        failed = {**payload, "failure_reason": refund.get("failure_reason"), "user_id": user_id}
        return [Fact("refund_failed", f"refund_failed:{refund_id}", user_id, refund_id, failed)]
    return []
