"""`invoice.payment_failed`: an attempt to charge an invoice failed.

Re-reads: the invoice, as every `invoice.*` event.
Facts: `payment_failed:<invoice>:<attempt>` while the invoice is still open and was attempted
(a stale event about an invoice paid or voided since says nothing); one per attempt, however
many events report it. The invoice's dunning case (`paywire.mirror.dunning`) counts the
attempt, and ends as lost when Stripe has no try left.
Reactions: the dunning notice configured for that attempt (`PAYWIRE_DUNNING_NOTICES`: by
default "payment failed" on the first, a second notice, and the final warning when one try
remains), each with the signed "update your card" link (`paywire.reactions.notices`).
What the failure means for access arrives with `customer.subscription.updated` (past_due, then
canceled or unpaid after the last try: `subscription_canceled` / `access_paused`).
"""

from __future__ import annotations

from typing import Any

from paywire.events.appliers import refresh_invoice
from paywire.events.handling import EventHandler, HandlerContext
from paywire.mirror import dunning
from paywire.mirror.customers import user_for
from paywire.mirror.invoices import invoice_payload
from paywire.outbox import Fact
from paywire.stripe import Kind
from paywire.stripe.ids import id_of

EVENT_TYPE = "invoice.payment_failed"


def failed_attempt(ctx: HandlerContext, invoice: dict[str, Any]) -> list[Fact]:
    attempt = int(invoice.get("attempt_count") or 0)
    user_id = user_for(ctx.mirror.session, id_of(invoice.get("customer")), invoice)
    dunning.record_failure(ctx.mirror, invoice, user_id)
    if invoice.get("status") != "open" or attempt <= 0:
        return []
    key = f"payment_failed:{invoice['id']}:{attempt}"
    return [Fact("payment_failed", key, user_id, invoice["id"], invoice_payload(invoice))]


HANDLER = EventHandler(refresh_invoice, reads=Kind.INVOICE, facts=failed_attempt)
