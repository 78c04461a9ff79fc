"""`charge.dispute.updated`: a dispute changed: evidence staged or submitted, its status moved
(under review), its deadline passed.

Re-reads: the dispute and its charge, as `charge.dispute.created`
(`paywire.events.payment_appliers`). Writes: the dispute.
Facts: `dispute_opened:<dispute>` if paywire had not seen it yet; a deadline reminder due.
"""

from __future__ import annotations

from paywire.events.handling import EventHandler
from paywire.events.payment_appliers import mirror_dispute
from paywire.stripe import Kind

EVENT_TYPE = "charge.dispute.updated"

HANDLER = EventHandler(mirror_dispute, reads=Kind.DISPUTE)
