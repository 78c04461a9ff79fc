"""`invoice.paid`: an invoice was paid (in full, or it was zero).

Re-reads: the invoice, once for every event about it that waits, written under the version
rule so a slow read cannot move it back (paid → open), unless its payload is provably the
newest (`paywire.mirror.payloads`); an invoice in dunning ends recovered
(`paywire.mirror.dunning`: the fact `payment_recovered:<invoice>`).
Facts: `receipt:<invoice>` once the invoice is paid with something charged (a subscription's
or a one-time purchase's): lines, tax, discount, total and the invoice. The receipt's own link
is asked of Stripe when the mail is sent (`paywire.reactions.registry`), not here: at a
renewal storm that request would stand between the events and the mirror.
Reactions: the customer's receipt, and "payment recovered" after a failed payment.
What an invoice means for access reaches the mirror through `customer.subscription.updated`.
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

EVENT_TYPE = "invoice.paid"


def receipt(ctx: HandlerContext, invoice: dict[str, Any]) -> list[Fact]:
    if invoice.get("status") != "paid" or not invoice.get("amount_paid"):
        return []
    user_id = user_for(ctx.mirror.session, id_of(invoice.get("customer")), invoice)
    lines = (invoice.get("lines") or {}).get("data") or []
    payload = {
        **invoice_payload(invoice),
        "number": invoice.get("number"),
        "amount_paid": invoice.get("amount_paid"),
        "paid_at": (invoice.get("status_transitions") or {}).get("paid_at"),
        "lines": [[str(line.get("description") or ""), line.get("amount")] for line in lines],
        "tax": sum(int(t.get("amount") or 0) for t in invoice.get("total_taxes") or []),
        "discount": sum(int(d.get("amount") or 0) for d in invoice.get("total_discount_amounts") or []),
        "invoice_pdf": invoice.get("invoice_pdf"),
    }
    return [Fact("receipt", f"receipt:{invoice['id']}", user_id, invoice["id"], payload)]


HANDLER = EventHandler(refresh_invoice, reads=Kind.INVOICE, facts=receipt)
