"""Payments after the fact, at the adapter boundary: refunds (`gateway.payments`), and the
questions refunds and disputes ask about a payment (which invoice it paid, which Checkout
Session took it).

A refund is asked for one charge with an idempotency key of the request it serves; a
destination charge's refund can take back the seller's share of the transfer and of the
platform's fee (`reverse_transfer`, `refund_application_fee`: Stripe Connect).
"""

from __future__ import annotations

from typing import Any

from paywire.stripe.client import ApiClient, Params

# Stripe's refund reasons.
REFUND_REASONS = ("requested_by_customer", "duplicate", "fraudulent")


class Payments:
    def __init__(self, api: ApiClient) -> None:
        self._api = api
        self._v1 = api.sdk.v1

    def refund(
        self,
        *,
        charge_id: str,
        amount: int,
        reason: str,
        metadata: dict[str, str],
        idempotency_key: str,
        reverse_transfer: bool = False,
        refund_application_fee: bool = False,
    ) -> dict[str, Any]:
        """Refund `amount` of the charge (`reason`: one of `REFUND_REASONS`)."""
        params: Params = {"charge": charge_id, "amount": amount, "reason": reason, "metadata": metadata}
        if reverse_transfer:
            params["reverse_transfer"] = True
        if refund_application_fee:
            params["refund_application_fee"] = True
        return self._api.create(self._v1.refunds.create, params, idempotency_key)

    def refunds_of_charge(self, charge_id: str) -> list[dict[str, Any]]:
        return self._api.list_all(self._v1.refunds.list, {"charge": charge_id, "limit": 100})

    def invoice_paid_by(self, payment_intent_id: str) -> str | None:
        """The invoice a payment intent paid (None: it paid none, a one-time purchase's
        Checkout payment); Stripe lists invoice payments by their payment."""
        params: Params = {"payment": {"type": "payment_intent", "payment_intent": payment_intent_id}, "limit": 10}
        found, _ = self._api.page(self._v1.invoice_payments.list, params)
        for payment in found:
            invoice = payment.get("invoice")
            return str(invoice["id"] if isinstance(invoice, dict) else invoice)
        return None

    def checkout_session_of(
        self, *, payment_intent: str | None = None, subscription: str | None = None
    ) -> dict[str, Any] | None:
        """The completed Checkout Session that took this payment, or started this subscription
        (its `consent`, `customer_details`), if any."""
        params: Params = {"limit": 10, "status": "complete"}
        if payment_intent:
            params["payment_intent"] = payment_intent
        elif subscription:
            params["subscription"] = subscription
        else:
            return None
        found, _ = self._api.page(self._v1.checkout.sessions.list, params)
        return found[0] if found else None
