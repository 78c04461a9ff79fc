"""`payout.paid` (Connect): a seller's payout reached their bank account.

Re-reads: the payout, on the account it happened on. Writes: it (`payouts`, under the version
rule) and the seller's balance.
Facts: none.
"""

from __future__ import annotations

from paywire.events.connect_appliers import mirror_payout
from paywire.events.handling import EventHandler

EVENT_TYPE = "payout.paid"

HANDLER = EventHandler(mirror_payout)
