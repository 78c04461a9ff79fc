"""`customer.subscription.pending_update_expired`: an upgrade that waited for its payment
lapsed unpaid: the subscription stays as it was.

Re-reads: the subscription (prices expanded), once for every event about it that waits.
Facts: what the subscription's state shows, whoever wrote it (`access_granted` once it is active
or trialing, `subscription_canceled` once canceled: `paywire.mirror.subscriptions.state_facts`).
Reactions: the customer's email for each new fact (`paywire.reactions.notices`).
"""

from paywire.events.appliers import refresh_subscription
from paywire.events.handling import EventHandler
from paywire.stripe import Kind

EVENT_TYPE = "customer.subscription.pending_update_expired"
HANDLER = EventHandler(refresh_subscription, reads=Kind.SUBSCRIPTION)
