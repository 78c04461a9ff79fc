"""`refund.created`: a refund of a payment was made (by paywire, or in the Dashboard).

Re-reads: the refund and its charge. Writes: the refund (`refunds`, under the version rule),
with its status (`pending`, `succeeded`, `failed`, `canceled`), whose payment it is (the
`cs_…` or `in_…` of `GET /api/billing/payments`) and who asked (an admin, `self`, or nobody
in paywire: the Dashboard).
Facts: `refund_issued:<refund>` while it is pending or done; `refund_failed:<refund>` if it
failed; a fully refunded payment ends what it paid for (a pass at once; a subscription:
`refund_ends_access:<subscription>`, per `PAYWIRE_REFUND_ACCESS`).
Reactions: the customer's "Your refund is on its way" email; the team's mail on a failure;
`end_access` cancels the subscription.
"""

from __future__ import annotations

from paywire.events.handling import EventHandler
from paywire.events.payment_appliers import mirror_refund
from paywire.stripe import Kind

EVENT_TYPE = "refund.created"

HANDLER = EventHandler(mirror_refund, reads=Kind.REFUND)
