"""`invoice.payment_action_required`: the bank asks the customer to confirm a payment (3-D
Secure, strong customer authentication) on the invoice's hosted page.

Re-reads: the invoice, as every `invoice.*` event.
Facts: `payment_action_required:<invoice>:<attempt>` while the invoice is still open, and
`payment_action_reminder:<invoice>:<attempt>`, due `PAYWIRE_ACTION_REMINDER_HOURS` later (real
time) and told only if the invoice is still open then. A first payment (an `incomplete`
subscription) expires 23 hours after it was asked for: the reminder names that time.
Reactions: the customer's "Please confirm your payment" email with the hosted invoice link,
and the reminder.
"""

from __future__ import annotations

from typing import Any

from paywire.events.appliers import refresh_invoice
from paywire.events.handling import EventHandler, HandlerContext
from paywire.mirror.customers import user_for
from paywire.mirror.invoices import invoice_payload
from paywire.outbox import Fact
from paywire.stripe import Kind
from paywire.stripe.ids import id_of

EVENT_TYPE = "invoice.payment_action_required"
INCOMPLETE_EXPIRY_SECONDS = 23 * 3600  # Stripe's, for a subscription's first invoice


def authentication_asked(ctx: HandlerContext, invoice: dict[str, Any]) -> list[Fact]:
    if invoice.get("status") != "open":
        return []
    user_id = user_for(ctx.mirror.session, id_of(invoice.get("customer")), invoice)
    attempt = int(invoice.get("attempt_count") or 0)
    payload = invoice_payload(invoice)
    if invoice.get("billing_reason") == "subscription_create" and isinstance(invoice.get("created"), int):
        payload["expires_at"] = invoice["created"] + INCOMPLETE_EXPIRY_SECONDS
    delay = ctx.mirror.settings.action_reminder_hours * 3600
    return [
        Fact(
            "payment_action_required",
            f"payment_action_required:{invoice['id']}:{attempt}",
            user_id,
            invoice["id"],
            payload,
        ),
        Fact(
            "payment_action_reminder",
            f"payment_action_reminder:{invoice['id']}:{attempt}",
            user_id,
            invoice["id"],
            payload,
            delay=delay,
        ),
    ]


HANDLER = EventHandler(refresh_invoice, reads=Kind.INVOICE, facts=authentication_asked)
