"""`application_fee.created`: the platform's fee on a destination charge was collected from the
seller's payment.

Re-reads: the application fee. Writes: it (`application_fees`, under the version rule) and the
seller's balance.
Facts: none.
"""

from __future__ import annotations

from paywire.events.connect_appliers import mirror_fee
from paywire.events.handling import EventHandler

EVENT_TYPE = "application_fee.created"

HANDLER = EventHandler(mirror_fee)
