"""`transfer.reversed`: money was taken back from a seller's account (a refund that reversed it,
or a reversal).

Re-reads: the transfer, and the charge of the sale it pays for (its amount, product, buyer).
Writes: the transfer (`connect_transfers`, under the version rule) and the seller's balance.
Facts: none: the seller page shows the sale, its fee and what was taken back.
"""

from __future__ import annotations

from paywire.events.connect_appliers import mirror_transfer
from paywire.events.handling import EventHandler

EVENT_TYPE = "transfer.reversed"

HANDLER = EventHandler(mirror_transfer)
