"""`charge.dispute.funds_reinstated`: a dispute won: Stripe put the disputed amount back.

Re-reads: the dispute and its charge, as `charge.dispute.created`. Writes: the dispute.
Facts: `dispute_closed:<dispute>` (won), once.
"""

from __future__ import annotations

from paywire.events.handling import EventHandler
from paywire.events.payment_appliers import mirror_dispute
from paywire.stripe import Kind

EVENT_TYPE = "charge.dispute.funds_reinstated"

HANDLER = EventHandler(mirror_dispute, reads=Kind.DISPUTE)
