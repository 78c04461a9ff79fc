"""`payout.failed` (Connect): a seller's bank refused a payout; the money is back in their
balance until they fix the bank account (on their Express Dashboard).

Re-reads: the payout, on the account it happened on. Writes: it (`payouts`, under the version
rule) and the seller's balance.
Facts: `payout_failed:<payout>` (once per payout), for the seller, with Stripe's reason.
Reactions: the seller's "your payout failed" email; the seller page says it too.
"""

from __future__ import annotations

from paywire.events.connect_appliers import mirror_payout, payout_failed
from paywire.events.handling import EventHandler

EVENT_TYPE = "payout.failed"

HANDLER = EventHandler(mirror_payout, facts=payout_failed)
