"""`account.updated` (Connect): a seller's connected account changed: onboarding finished, a
requirement came due or went past due, a capability was paused or came back, Stripe rejected it.

Re-reads: the account as Accounts v2 shows it (capability statuses, requirements and their
deadline); an account with no seller row but a `user_id` in its metadata (made by paywire
just before its row was committed) gets its row.
Writes: the seller's state, under the version rule. The seller page and `GET /api/seller` say it
in words; `require_seller()` and checkout follow it.
Facts: none.
"""

from __future__ import annotations

from paywire.events.connect_appliers import mirror_account
from paywire.events.handling import EventHandler

EVENT_TYPE = "account.updated"

HANDLER = EventHandler(mirror_account)
