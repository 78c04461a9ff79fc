"""`charge.dispute.funds_withdrawn`: Stripe took the disputed amount (and its fee) from the
balance while the bank decides.

Re-reads: the dispute and its charge, as `charge.dispute.created`. Writes: the dispute.
Facts: `dispute_opened:<dispute>` if paywire had not seen it yet.
"""

from __future__ import annotations

from paywire.events.handling import EventHandler
from paywire.events.payment_appliers import mirror_dispute
from paywire.stripe import Kind

EVENT_TYPE = "charge.dispute.funds_withdrawn"

HANDLER = EventHandler(mirror_dispute, reads=Kind.DISPUTE)
