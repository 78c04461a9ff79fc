"""`payment_intent.payment_failed`: noted next to the order it was for, as
`payment_intent.succeeded` (see that module); access never changes here.
Facts: none."""

from paywire.events.handlers.payment_intent_succeeded import HANDLER as NOTED

EVENT_TYPE = "payment_intent.payment_failed"
HANDLER = NOTED
