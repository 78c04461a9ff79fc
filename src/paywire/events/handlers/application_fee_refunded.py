"""`application_fee.refunded`: the platform's fee on a destination charge was given back (in part
or whole) to the seller, with a refund of the sale.

Re-reads: the application fee. Writes: it (`application_fees`, under the version rule) and the
seller's balance.
Facts: none.
"""

from __future__ import annotations

from paywire.events.connect_appliers import mirror_fee
from paywire.events.handling import EventHandler

EVENT_TYPE = "application_fee.refunded"

HANDLER = EventHandler(mirror_fee)
