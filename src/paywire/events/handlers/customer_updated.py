"""`customer.updated`: a customer's details changed (email, test clock, address).

Re-reads: the customer, only if it is linked to a user (`paywire.mirror.customers.follow`),
so it is not read ahead. Follows the email and test clock; never creates a link.
Facts: none.
"""

from paywire.events.appliers import follow_customer
from paywire.events.handling import EventHandler

EVENT_TYPE = "customer.updated"
HANDLER = EventHandler(follow_customer)
