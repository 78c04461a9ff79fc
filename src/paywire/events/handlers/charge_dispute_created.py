"""`charge.dispute.created`: a customer disputed a payment with their bank.

Re-reads: the dispute and its charge. Writes: the dispute (`disputes`, under the version rule)
with its amount, reason, status, evidence deadline (`due_by`; 0 or none: no response possible),
`has_evidence`, `submission_count`, and whose payment it is. On a destination charge (a sale
of a seller's) the platform pays the dispute, since it made the charge; the seller is found by
the charge's transfer and shown beside it (the seller page, the admin dashboard).
Facts: `dispute_opened:<dispute>` (once), and a deadline reminder already due.
Reactions: the team's "Dispute opened" mail to `PAYWIRE_TEAM_EMAIL`, counted in
`paywire_dispute_alerts_total`.
"""

from __future__ import annotations

from paywire.events.handling import EventHandler
from paywire.events.payment_appliers import mirror_dispute
from paywire.stripe import Kind

EVENT_TYPE = "charge.dispute.created"

HANDLER = EventHandler(mirror_dispute, reads=Kind.DISPUTE)
