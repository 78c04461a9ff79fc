"""`charge.dispute.closed`: the bank decided (`won`, `lost`), the dispute was accepted
(`lost`), or an inquiry closed (`warning_closed`).

Re-reads: the dispute and its charge. Writes: the dispute, closed at the event's time.
Facts: `dispute_closed:<dispute>`; a lost one also `dispute_lost:<dispute>`, which ends what the
payment paid for: a pass at once (its order `refunded`), a subscription by the `end_access`
reaction (`PAYWIRE_REFUND_ACCESS`). Lost disputes count in `/metrics`
(`paywire_disputes_lost`, `paywire_disputes_lost_amount`).
Reactions: the team's "Dispute won/lost" mail; `end_access`.
"""

from __future__ import annotations

from paywire.events.handling import EventHandler
from paywire.events.payment_appliers import mirror_dispute
from paywire.stripe import Kind

EVENT_TYPE = "charge.dispute.closed"

HANDLER = EventHandler(mirror_dispute, reads=Kind.DISPUTE)
