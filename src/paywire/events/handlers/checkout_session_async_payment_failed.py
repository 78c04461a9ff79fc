"""`checkout.session.async_payment_failed`: a delayed payment method failed after the session
completed. Handled as `checkout.session.expired`: the pending order will not be paid, unless
Stripe's current state says otherwise (see that module)."""

from paywire.events.handlers.checkout_session_expired import HANDLER as EXPIRED

EVENT_TYPE = "checkout.session.async_payment_failed"
HANDLER = EXPIRED
