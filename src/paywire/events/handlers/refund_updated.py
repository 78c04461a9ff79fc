"""`refund.updated`: a refund changed: a pending one succeeded, or one failed (the bank sent
the money back), or it was canceled.

Re-reads: the refund and its charge, as `refund.created` (`paywire.events.payment_appliers`).
Facts: `refund_issued:<refund>` / `refund_failed:<refund>` by its state now (each once).
Reactions: the customer's refund email; the team's mail on a failure.
"""

from __future__ import annotations

from paywire.events.handling import EventHandler
from paywire.events.payment_appliers import mirror_refund
from paywire.stripe import Kind

EVENT_TYPE = "refund.updated"

HANDLER = EventHandler(mirror_refund, reads=Kind.REFUND)
