"""`invoice.*`: the invoice mirror.

The invoice is re-read and written whole, under the version rule (`invoices.stripe_version`,
as subscriptions), so a slow read finishing after a newer one cannot move an invoice back
(paid → open), whoever wrote the newer one. `invoice.payment_failed` and
`invoice.payment_action_required` hint the dunning and authentication facts, which are
kept only if the invoice is still open. What an invoice means for access reaches the mirror
through `customer.subscription.updated`.
"""

from __future__ import annotations

from paywire.events.handlers._event import EventGroup, event_object_id
from paywire.events.mirror import HandlerContext, refresh_invoice


def on_invoice_changed(ctx: HandlerContext, group: EventGroup) -> str:
    return refresh_invoice(ctx, event_object_id(group.latest))


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
