"""`invoice.deleted`: a draft invoice was deleted (its re-read answers 404: nothing was ever owed on it).

Re-reads: the invoice, once for every event about it that waits, written under the version
rule so a slow read cannot move it back (paid → open). Never from its payload: that shows the
draft as it was before it went.
Facts: none of its own (what an invoice means for access reaches the mirror through
`customer.subscription.updated`).
"""

from paywire.events.appliers import refresh_invoice
from paywire.events.handling import EventHandler
from paywire.stripe import Kind

EVENT_TYPE = "invoice.deleted"
HANDLER = EventHandler(refresh_invoice, reads=Kind.INVOICE, state_in_payload=False)
