"""`customer.deleted`: a customer was deleted in Stripe; the user's link and history stay.

Re-reads: the customer, only if it is linked to a user (`paywire.mirror.customers.follow`),
so it is not read ahead. Follows the email and test clock; never creates a link.
Facts: none.
"""

from paywire.events.appliers import follow_customer
from paywire.events.handling import EventHandler

EVENT_TYPE = "customer.deleted"
HANDLER = EventHandler(follow_customer)
