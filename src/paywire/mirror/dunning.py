"""The dunning record of each failed invoice (`dunning_cases`), and the fact of its recovery.

A case opens on a failed attempt (`record_failure`, hinted by `invoice.payment_failed`) and
counts each later one. It ends with the invoice's state, whoever writes it (`follow`, on every
write of the invoice): paid → recovered after attempt n, by a scheduled retry (paid at or after
the try Stripe had planned) or by the customer before it (`card_update`: a new card, which
Stripe charges at once, or the invoice's page), with the fact `payment_recovered:<invoice>`
(the customer's "payment recovered" notice); void, uncollectible, or a failed attempt with no
try left → lost. A first invoice (an `incomplete` subscription's) is no dunning: Stripe does
not retry it, and nothing was ever granted on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from paywire.db.models import DunningCase
from paywire.db.repositories import dunning
from paywire.mirror.context import MirrorContext
from paywire.mirror.rows import invoice_subscription
from paywire.outbox import Fact
from paywire.stripe.ids import id_of

LOST_STATUSES = ("void", "uncollectible")


def in_dunning(invoice: dict[str, Any]) -> bool:
    return invoice.get("billing_reason") != "subscription_create" and invoice_subscription(invoice) is not None


def record_failure(ctx: MirrorContext, invoice: dict[str, Any], user_id: str | None) -> None:
    """Attempt `attempt_count` of `invoice` failed (an event says so). On an invoice paid since
    (a late hint) the case is recorded as recovered, without telling anyone."""
    attempt = int(invoice.get("attempt_count") or 0)
    if attempt <= 0 or not in_dunning(invoice) or invoice.get("status") not in ("open", "paid"):
        return
    invoice_id = invoice["id"]
    dunning.open_case(
        ctx.session,
        invoice_id=invoice_id,
        user_id=user_id,
        subscription_id=invoice_subscription(invoice),
        stripe_customer_id=str(id_of(invoice.get("customer"))),
        amount=int(invoice.get("amount_due") or 0),
        currency=invoice.get("currency"),
    )
    if invoice.get("status") == "paid":
        dunning.close(ctx.session, invoice_id, outcome="recovered", recovered_after_attempt=max(1, attempt - 1))
        return
    dunning.note_failure(ctx.session, invoice_id, attempt=attempt, next_attempt_at=invoice.get("next_payment_attempt"))
    if not invoice.get("next_payment_attempt"):
        dunning.close(ctx.session, invoice_id, outcome="lost")


def follow(ctx: MirrorContext, invoice: dict[str, Any]) -> None:
    """An open case ends with its invoice: paid (recovered) or given up (lost)."""
    if invoice.get("status") not in ("paid", *LOST_STATUSES):
        return
    case = dunning.find(ctx.session, invoice["id"])
    if case is not None and case.outcome == "open":
        _end(ctx, invoice, case)


def follow_many(ctx: MirrorContext, invoices: Sequence[dict[str, Any]]) -> None:
    """`follow` for many invoices: their open cases found in one query."""
    ending = [i for i in invoices if i.get("status") in ("paid", *LOST_STATUSES)]
    cases = dunning.open_cases(ctx.session, {i["id"] for i in ending})
    for invoice in ending:
        case = cases.get(invoice["id"])
        if case is not None:
            _end(ctx, invoice, case)


def _end(ctx: MirrorContext, invoice: dict[str, Any], case: DunningCase) -> None:
    if invoice.get("status") != "paid":
        dunning.close(ctx.session, case.invoice_id, outcome="lost")
        return
    paid_at = (invoice.get("status_transitions") or {}).get("paid_at")
    planned = case.next_attempt_at
    by = "retry" if planned is not None and isinstance(paid_at, int) and paid_at >= planned else "card_update"
    after = case.failed_attempts
    if not dunning.close(
        ctx.session, case.invoice_id, outcome="recovered", recovered_after_attempt=after, recovered_by=by
    ):
        return
    payload = {
        "invoice_id": case.invoice_id,
        "subscription_id": case.subscription_id,
        "amount_due": case.amount,
        "currency": case.currency,
        "attempt_count": after,
        "recovered_by": by,
        "hosted_invoice_url": invoice.get("hosted_invoice_url"),
    }
    ctx.record_facts(
        [Fact("payment_recovered", f"payment_recovered:{case.invoice_id}", case.user_id, case.invoice_id, payload)]
    )
