"""Disputes in the mirror (`disputes`), under the version rule, and the facts a dispute's state
shows: `dispute_opened:<dispute>` the first time paywire sees it (the team is alerted at once),
`dispute_closed:<dispute>` once the bank decided or it was accepted (won, lost; an inquiry's
`warning_closed`).

Open disputes, their deadline and whether evidence went in are kept as Stripe says them:
`evidence_details.due_by` (null or 0: no response possible), `has_evidence` (staged or
submitted), `submission_count` (Stripe takes evidence once).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from paywire.db.models import Dispute
from paywire.mirror.write import write_versioned
from paywire.outbox import Fact
from paywire.stripe.ids import id_of

# An inquiry (`warning_*`) or a chargeback the bank has not decided yet.
OPEN_STATUSES = ("warning_needs_response", "warning_under_review", "needs_response", "under_review")
# Evidence can still be staged and submitted.
AWAITING_EVIDENCE = ("warning_needs_response", "needs_response")
CLOSED_STATUSES = ("won", "lost", "warning_closed", "prevented")


@dataclass(frozen=True)
class Owner:
    """Whose payment a dispute is about, as far as paywire knows."""

    user_id: str | None = None
    stripe_customer_id: str | None = None
    payment_id: str | None = None


def dispute_values(dispute: dict[str, Any], owner: Owner, *, closed_at: int | None) -> dict[str, Any]:
    """What the mirror keeps of a dispute. Pure."""
    details = dispute.get("evidence_details") or {}
    card = (dispute.get("payment_method_details") or {}).get("card") or {}
    return {
        "id": dispute["id"],
        "charge_id": str(id_of(dispute.get("charge"))),
        "payment_intent_id": id_of(dispute.get("payment_intent")),
        "amount": int(dispute.get("amount") or 0),
        "currency": str(dispute.get("currency") or ""),
        "reason": dispute.get("reason"),
        "status": str(dispute.get("status")),
        "evidence_due_by": details.get("due_by") or None,
        "stripe_created": int(dispute.get("created") or 0),
        "stripe_customer_id": owner.stripe_customer_id,
        "user_id": owner.user_id,
        "payment_id": owner.payment_id,
        "has_evidence": bool(details.get("has_evidence")),
        "submission_count": int(details.get("submission_count") or 0),
        "past_due": bool(details.get("past_due")),
        "is_charge_refundable": bool(dispute.get("is_charge_refundable")),
        "network_reason_code": card.get("network_reason_code") or dispute.get("network_reason_code"),
        "closed_at": closed_at if dispute.get("status") in CLOSED_STATUSES else None,
    }


def write_dispute(
    session: Session, dispute: dict[str, Any], owner: Owner, *, version: int, closed_at: int | None = None
) -> bool:
    """Write the dispute as read at `version`; False if a newer read is stored."""
    values = {**dispute_values(dispute, owner, closed_at=closed_at), "stripe_version": version}
    return write_versioned(session, Dispute, values)


def dispute_facts(dispute: dict[str, Any], owner: Owner) -> list[Fact]:
    """The facts a dispute's state shows. Pure."""
    details = dispute.get("evidence_details") or {}
    payload = {
        "dispute_id": dispute["id"],
        "charge_id": id_of(dispute.get("charge")),
        "payment_id": owner.payment_id,
        "user_id": owner.user_id,
        "amount": dispute.get("amount"),
        "currency": dispute.get("currency"),
        "reason": dispute.get("reason"),
        "status": dispute.get("status"),
        "due_by": details.get("due_by") or None,
    }
    found = [Fact("dispute_opened", f"dispute_opened:{dispute['id']}", owner.user_id, dispute["id"], payload)]
    if dispute.get("status") in CLOSED_STATUSES:
        key = f"dispute_closed:{dispute['id']}"
        found.append(Fact("dispute_closed", key, owner.user_id, dispute["id"], payload))
    return found
