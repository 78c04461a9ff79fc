"""`checkout.session.async_payment_succeeded`: a delayed payment method (a bank debit) paid a
session that completed earlier. Handled as `checkout.session.completed`: the session is
re-read and provisioned once Stripe says it is paid (see that module)."""

from paywire.events.handlers.checkout_session_completed import HANDLER as COMPLETED

EVENT_TYPE = "checkout.session.async_payment_succeeded"
HANDLER = COMPLETED
