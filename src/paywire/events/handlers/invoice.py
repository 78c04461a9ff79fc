"""`invoice.*`: the invoice mirror.

The invoice is re-read and written whole. Invoices move one way (draft → open → paid, void
or uncollectible) and only events about the invoice itself write its row, which the inbox
never processes twice at once, so the freshly read object is always the one to keep. What
an invoice means for access reaches the mirror through `customer.subscription.updated`.
"""

from __future__ import annotations

from typing import Any

from paywire.db.repositories import invoices
from paywire.events.handlers._event import event_object_id
from paywire.events.mirror import HandlerContext
from paywire.stripe import StripeNotFound


def on_invoice_changed(ctx: HandlerContext, event: dict[str, Any]) -> str:
    invoice_id = event_object_id(event)
    try:
        fresh = ctx.gateway.retrieve_invoice(invoice_id)
    except StripeNotFound:
        # A deleted draft is gone from Stripe; nothing was ever owed on it.
        return f"{invoice_id} no longer in Stripe"
    invoices.save_from_stripe(ctx.session, fresh)
    return f"{invoice_id} {fresh.get('status')}"


HANDLERS = {
    f"invoice.{change}": on_invoice_changed
    for change in (
        "created",
        "finalized",
        "updated",
        "paid",
        "payment_succeeded",
        "payment_failed",
        "payment_action_required",
        "voided",
        "marked_uncollectible",
        "overdue",
        "will_be_due",
        "deleted",
    )
}
