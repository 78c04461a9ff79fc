"""`charge.refunded`: some or all of a payment was refunded.

Re-reads: the charge, and its refunds. Writes: each refund (`refunds`, under the version rule).
Facts: `refund_issued:<refund>` for each refund Stripe made or is making (by the refund's id:
two partial refunds are two facts, even when one re-read sees both; one refund seen by two
events is one), `refund_failed:<refund>` for one that failed.
A fully refunded payment ends what it paid for: its order (a one-time pass) moves to
`refunded`, which grants nothing; a subscription's invoice records
`refund_ends_access:<subscription>` (`PAYWIRE_REFUND_ACCESS`: canceled now, or at the period
end). A partial refund keeps access.
Reactions: the customer's "Your refund is on its way" email; `end_access`.
"""

from __future__ import annotations

from paywire.events.handling import EventHandler
from paywire.events.payment_appliers import mirror_charge_refunds
from paywire.stripe import Kind

EVENT_TYPE = "charge.refunded"

HANDLER = EventHandler(mirror_charge_refunds, reads=Kind.CHARGE)
