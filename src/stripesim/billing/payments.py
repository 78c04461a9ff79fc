"""Payment intents and charges: what happens when a test card is charged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stripesim.billing.payment_methods import test_card_of
from stripesim.engine import timer
from stripesim.ids import secret
from stripesim.resources._common import new_record
from stripesim.state import Record, State

# Other parts of the engine react to a payment's outcome (an invoice gets paid, a checkout
# session completes) through these hooks, keyed by the private `_for` link on the intent.
PaymentHook = Callable[[State, Record], None]
ON_SUCCEEDED: list[PaymentHook] = []
ON_FAILED: list[PaymentHook] = []
ON_REQUIRES_ACTION: list[PaymentHook] = []


def base_url(state: State) -> str:
    return state.runtime.get("base_url", "http://127.0.0.1:12111")


def create_intent(
    state: State,
    *,
    amount: int,
    currency: str,
    customer: str | None,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    setup_future_usage: str | None = None,
    payment_method: str | None = None,
    linked_to: dict[str, str] | None = None,
    emit: bool = True,
) -> Record:
    now = state.now_for({"customer": customer}) if customer else state.now()
    pi = new_record(
        state,
        "payment_intent",
        "pi",
        created=now,
        amount=amount,
        amount_capturable=0,
        amount_details={"tip": {}},
        amount_received=0,
        automatic_payment_methods=None,
        capture_method="automatic",
        confirmation_method="automatic",
        currency=currency,
        customer=customer,
        description=description,
        last_payment_error=None,
        latest_charge=None,
        managed_payments=None,
        next_action=None,
        payment_method=payment_method,
        payment_method_configuration_details=None,
        payment_method_options={
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        payment_method_types=["card"],
        processing=None,
        setup_future_usage=setup_future_usage,
        shipping=None,
        status="requires_payment_method" if payment_method is None else "requires_confirmation",
        transfer_data=None,
        excluded_payment_method_types=None,
    )
    pi["metadata"] = dict(metadata or {})
    pi["client_secret"] = f"{pi['id']}_secret_{secret('x', 20)[2:]}"
    pi["_for"] = dict(linked_to or {})
    state.insert(pi)
    if emit:
        state.emit("payment_intent.created", pi)
    return pi


def confirm(state: State, pi: Record, pm: Record, *, off_session: bool, authenticated: bool = False) -> Record:
    """Charge `pm` for the intent, with the card's documented outcome.

    `authenticated`: the customer just passed 3D Secure for this payment (hosted pages).
    """
    card = test_card_of(pm)
    pi["payment_method"] = pm["id"]
    behaviour = card.behaviour
    needs_auth = not authenticated and (
        behaviour == "authenticate_always" or (behaviour == "authenticate_first" and not pm.get("_authenticated"))
    )
    if needs_auth:
        return _require_action(state, pi, pm)
    if behaviour in ("decline", "fail_after_attach"):
        return _fail(state, pi, pm)
    return _succeed(state, pi, pm)


def _require_action(state: State, pi: Record, pm: Record) -> Record:
    with state.changing(pi, "payment_intent.requires_action"):
        pi["status"] = "requires_action"
        pi["next_action"] = {
            "type": "redirect_to_url",
            "redirect_to_url": {
                "url": f"{base_url(state)}/authenticate/{pi['id']}",
                "return_url": pi.get("_return_url"),
            },
        }
    for hook in ON_REQUIRES_ACTION:
        hook(state, pi)
    return pi


def authenticate(state: State, pi: Record, *, succeed: bool) -> Record:
    """The customer finished (or failed) the 3D Secure challenge."""
    pm = state.get(pi["payment_method"], "payment_method")
    if pi["status"] != "requires_action":
        return pi
    pi["next_action"] = None
    if not succeed:
        return _fail(
            state,
            pi,
            pm,
            code="payment_intent_authentication_failure",
            message="The provided PaymentMethod has failed authentication.",
        )
    pm["_authenticated"] = True
    if test_card_of(pm).behaviour in ("decline", "fail_after_attach"):
        return _fail(state, pi, pm)
    return _succeed(state, pi, pm)


def _charge(state: State, pi: Record, pm: Record, *, paid: bool, failure: dict[str, Any] | None) -> Record:
    card = test_card_of(pm)
    now = state.now_for(pi)
    charge = new_record(
        state,
        "charge",
        "ch",
        created=now,
        amount=pi["amount"],
        amount_captured=pi["amount"] if paid else 0,
        amount_refunded=0,
        application=None,
        application_fee=None,
        application_fee_amount=None,
        balance_transaction=None,
        calculated_statement_descriptor="STRIPESIM",
        captured=paid,
        currency=pi["currency"],
        customer=pi["customer"],
        description=pi["description"],
        disputed=False,
        failure_balance_transaction=None,
        failure_code=failure["code"] if failure else None,
        failure_message=failure["message"] if failure else None,
        fraud_details={},
        on_behalf_of=None,
        paid=paid,
        payment_intent=pi["id"],
        payment_method=pm["id"],
        receipt_email=None,
        receipt_number=None,
        refunded=False,
        review=None,
        shipping=None,
        source=None,
        source_transfer=None,
        statement_descriptor=None,
        statement_descriptor_suffix=None,
        status="succeeded" if paid else "failed",
        transfer_data=None,
        transfer_group=None,
    )
    charge["metadata"] = dict(pi.get("metadata") or {})
    charge["billing_details"] = pm["billing_details"]
    charge["outcome"] = {
        "advice_code": None,
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": "approved_by_network" if paid else "declined_by_network",
        "reason": None if paid else (failure or {}).get("decline_code"),
        "risk_level": "normal",
        "risk_score": 20,
        "seller_message": "Payment complete."
        if paid
        else "The bank did not return any further details with this decline.",
        "type": "authorized" if paid else "issuer_declined",
    }
    charge["payment_method_details"] = {
        "card": {
            "amount_authorized": pi["amount"] if paid else None,
            "authorization_code": None,
            "brand": card.brand,
            "checks": pm["card"]["checks"],
            "country": card.country,
            "exp_month": pm["card"]["exp_month"],
            "exp_year": pm["card"]["exp_year"],
            "extended_authorization": {"status": "disabled"},
            "fingerprint": pm["card"]["fingerprint"],
            "funding": card.funding,
            "incremental_authorization": {"status": "unavailable"},
            "installments": None,
            "last4": card.last4,
            "mandate": None,
            "multicapture": {"status": "unavailable"},
            "network": card.brand,
            "network_token": {"used": False},
            "network_transaction_id": None,
            "overcapture": {"maximum_amount_capturable": pi["amount"], "status": "unavailable"},
            "regulated_status": "unregulated",
            "three_d_secure": {
                "authentication_flow": "challenge",
                "electronic_commerce_indicator": "05",
                "exemption_indicator": None,
                "result": "authenticated",
                "result_reason": None,
                "transaction_id": None,
                "version": "2.2.0",
            }
            if pm.get("_authenticated")
            else None,
            "transaction_link_id": None,
            "wallet": None,
        },
        "type": "card",
    }
    charge["receipt_url"] = f"{base_url(state)}/receipts/{charge['id']}" if paid else None
    charge["refunds"] = {"object": "list", "data": [], "has_more": False, "url": f"/v1/charges/{charge['id']}/refunds"}
    if paid and card.behaviour == "succeed_then_dispute":
        charge["_dispute_at"] = now + state.config.dispute_delay_s
    state.insert(charge)
    return charge


def _succeed(state: State, pi: Record, pm: Record) -> Record:
    charge = _charge(state, pi, pm, paid=True, failure=None)
    state.emit("charge.succeeded", charge)
    with state.changing(pi, "payment_intent.succeeded"):
        pi["status"] = "succeeded"
        pi["amount_received"] = pi["amount"]
        pi["latest_charge"] = charge["id"]
        pi["last_payment_error"] = None
        pi["next_action"] = None
    for hook in ON_SUCCEEDED:
        hook(state, pi)
    return pi


def _fail(state: State, pi: Record, pm: Record, *, code: str | None = None, message: str | None = None) -> Record:
    card = test_card_of(pm)
    failure: dict[str, str | None] = {
        "code": code or card.error_code,
        "decline_code": None if code else card.decline_code,
        "message": message or card.message,
    }
    charge = None
    if code is None:
        charge = _charge(state, pi, pm, paid=False, failure=failure)
        state.emit("charge.failed", charge)
    with state.changing(pi, "payment_intent.payment_failed"):
        pi["status"] = "requires_payment_method"
        pi["latest_charge"] = charge["id"] if charge else pi["latest_charge"]
        pi["last_payment_error"] = {
            "advice_code": None,
            "charge": charge["id"] if charge else None,
            "code": failure["code"],
            "decline_code": failure["decline_code"],
            "doc_url": f"https://stripe.com/docs/error-codes/{str(failure['code']).replace('_', '-')}",
            "message": failure["message"],
            "network_advice_code": None,
            "network_decline_code": None,
            "param": None,
            "payment_method": state.snapshot(pm),
            "payment_method_type": "card",
            "type": "card_error",
        }
    for hook in ON_FAILED:
        hook(state, pi)
    return pi


def cancel(state: State, pi: Record, reason: str | None = None) -> Record:
    with state.changing(pi, "payment_intent.canceled"):
        pi["status"] = "canceled"
        pi["canceled_at"] = state.now_for(pi)
        pi["cancellation_reason"] = reason
        pi["next_action"] = None
    return pi


def refund(
    state: State,
    charge: Record,
    amount: int | None,
    *,
    reason: str | None = None,
    metadata: dict[str, str] | None = None,
) -> Record:
    from stripesim.errors import InvalidRequest

    remaining = charge["amount_captured"] - charge["amount_refunded"]
    amount = remaining if amount is None else amount
    if charge["status"] != "succeeded":
        raise InvalidRequest("This charge cannot be refunded because it did not succeed.", param="charge")
    if amount <= 0 or amount > remaining:
        raise InvalidRequest(
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
            param="amount",
            code="amount_too_large" if amount > remaining else None,
        )
    ref = new_record(
        state,
        "refund",
        "re",
        created=state.now_for(charge),
        amount=amount,
        balance_transaction=None,
        charge=charge["id"],
        currency=charge["currency"],
        customer=charge.get("customer"),
        customer_account=None,
        destination_details={
            "card": {
                "reference": None,
                "reference_status": "pending",
                "reference_type": "acquirer_reference_number",
                "type": "refund",
            },
            "type": "card",
        },
        payment_intent=charge["payment_intent"],
        payment_method=charge["payment_method"],
        reason=reason,
        receipt_number=None,
        source_transfer_reversal=None,
        status="succeeded",
        transfer_reversal=None,
    )
    ref["metadata"] = dict(metadata or {})
    state.insert(ref)
    state.emit("refund.created", ref)
    with state.changing(charge, "charge.refunded"):
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
    return ref


@timer("charge", lambda state, c: c.get("_dispute_at"))
def open_dispute(state: State, charge: Record, at: int) -> None:
    charge.pop("_dispute_at", None)
    dispute = new_record(
        state,
        "dispute",
        "dp",
        created=at,
        amount=charge["amount"],
        balance_transactions=[],
        charge=charge["id"],
        currency=charge["currency"],
        enhanced_eligibility_types=[],
        is_charge_refundable=False,
        payment_intent=charge["payment_intent"],
        reason="fraudulent",
        status="needs_response",
    )
    dispute["evidence_details"] = {
        "due_by": at + 7 * 24 * 3600,
        "enhanced_eligibility": {},
        "has_evidence": False,
        "past_due": False,
        "submission_count": 0,
    }
    dispute["payment_method_details"] = {
        "card": {
            "brand": charge["payment_method_details"]["card"]["brand"],
            "case_type": "chargeback",
            "network": charge["payment_method_details"]["card"]["network"],
            "network_reason_code": "10.4",
        },
        "type": "card",
    }
    state.insert(dispute)
    with state.changing(charge):
        charge["disputed"] = True
    state.emit("charge.dispute.created", dispute)
    state.emit("charge.dispute.funds_withdrawn", dispute)


def close_dispute(state: State, dispute: Record, status: str) -> Record:
    with state.changing(dispute, "charge.dispute.updated"):
        dispute["status"] = status
    state.emit("charge.dispute.closed", dispute)
    if status == "won":
        state.emit("charge.dispute.funds_reinstated", dispute)
    return dispute
