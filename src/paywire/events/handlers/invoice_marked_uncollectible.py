"""`invoice.marked_uncollectible`: an invoice was marked uncollectible.

Re-reads: the invoice, once for every event about it that waits, written under the version
rule so a slow read cannot move it back (paid → open).
Facts: none of its own (what an invoice means for access reaches the mirror through
`customer.subscription.updated`).
"""

from paywire.events.appliers import refresh_invoice
from paywire.events.handling import EventHandler
from paywire.stripe import Kind

EVENT_TYPE = "invoice.marked_uncollectible"
HANDLER = EventHandler(refresh_invoice, reads=Kind.INVOICE)
