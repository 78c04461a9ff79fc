"""`refund.failed`: a refund failed (an expired or closed card): the money is the merchant's
again and the customer did not get it.

Re-reads: the refund and its charge, as `refund.created` (`paywire.events.payment_appliers`).
Facts: `refund_failed:<refund>` (with Stripe's `failure_reason`), once.
Reactions: the team's "Refund failed" mail to `PAYWIRE_TEAM_EMAIL`.
"""

from __future__ import annotations

from paywire.events.handling import EventHandler
from paywire.events.payment_appliers import mirror_refund
from paywire.stripe import Kind

EVENT_TYPE = "refund.failed"

HANDLER = EventHandler(mirror_refund, reads=Kind.REFUND)
