"""`balance.available` (Connect): pending funds of a seller became available (for a payout).

The event names no object: the account it happened on (`account`) is the one whose balance is
read again. Writes: the seller's balance (available and pending), under its own version.
Facts: none.
"""

from __future__ import annotations

from paywire.events.connect_appliers import mirror_balance
from paywire.events.handling import EventHandler

EVENT_TYPE = "balance.available"

HANDLER = EventHandler(mirror_balance)
