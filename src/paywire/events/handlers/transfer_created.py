"""`transfer.created`: money was sent to a seller's account (a destination charge's transfer, or
a multi-seller order's).

Re-reads: the transfer, and the charge of the sale it pays for (its amount, product, buyer).
Writes: the transfer (`connect_transfers`, under the version rule) and the seller's balance.
Facts: none: the seller page shows the sale, its fee and what was taken back.
"""

from __future__ import annotations

from paywire.events.connect_appliers import mirror_transfer
from paywire.events.handling import EventHandler

EVENT_TYPE = "transfer.created"

HANDLER = EventHandler(mirror_transfer)
