"""Payment intents and charges: what happens when a test card is charged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stripesim.billing.payment_methods import test_card_of
from stripesim.engine import timer
from stripesim.errors import CardError, InvalidRequest
from stripesim.ids import secret
from stripesim.shapes import new_record
from stripesim.state import Record, State

# Other parts of the engine react to a payment's outcome (an invoice gets paid, a checkout
# session completes) through these hooks, keyed by the private `_for` link on the intent.
PaymentHook = Callable[[State, Record], None]
ON_SUCCEEDED: list[PaymentHook] = []
ON_FAILED: list[PaymentHook] = []
ON_REQUIRES_ACTION: list[PaymentHook] = []
# Connect settles a destination charge (its transfer and application fee) when the charge
# succeeds, before `charge.succeeded` is sent: (state, payment intent, charge).
ON_CHARGE_SUCCEEDED: list[Callable[[State, Record, Record], None]] = []
# …and reverses what a refund asks to (`reverse_transfer`, `refund_application_fee`) before
# `charge.refunded` is sent: (state, charge, refund, options).
ON_REFUNDED: list[Callable[[State, Record, Record, dict[str, bool]], None]] = []
# The Connect fields a payment intent may carry (Checkout's `payment_intent_data`, a
# subscription's invoices).
CONNECT_FIELDS = ("application_fee_amount", "on_behalf_of", "transfer_data", "transfer_group")


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
    connect: dict[str, Any] | None = None,
) -> Record:
    """`connect`: a destination charge's fields (`CONNECT_FIELDS`)."""
    now = state.now_for({"customer": customer}) if customer else state.now()
    pi = new_record(
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
    for key, value in (connect or {}).items():
        if key in CONNECT_FIELDS and value is not None:
            pi[key] = value
    state.insert(pi)
    if emit:
        state.emit("payment_intent.created", pi)
    return pi


def confirm(
    state: State,
    pi: Record,
    pm: Record,
    *,
    off_session: bool,
    authenticated: bool = False,
    decline_unauthenticated: bool = False,
) -> Record:
    """Charge `pm` for the intent, with the card's documented outcome.

    `authenticated`: the customer just passed 3D Secure for this payment (hosted pages).
    `decline_unauthenticated`: a card that needs authentication declines an off-session payment
    (`authentication_required`) instead of asking for it, as a direct confirmation with
    `off_session=true` does (invoices of subscriptions ask for it instead).
    """
    card = test_card_of(pm)
    pi["payment_method"] = pm["id"]
    behaviour = card.behaviour
    needs_auth = not authenticated and (
        behaviour == "authenticate_always" or (behaviour == "authenticate_first" and not pm.get("_authenticated"))
    )
    if needs_auth and decline_unauthenticated and off_session:
        return _fail(
            state,
            pi,
            pm,
            code="authentication_required",
            decline_code="authentication_required",
            message="Your card was declined. This transaction requires authentication.",
            charged=True,
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
                "url": f"{state.base_url()}/authenticate/{pi['id']}",
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
            "electronic_commerce_indicator": None,
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
    charge["receipt_url"] = f"{state.base_url()}/receipts/{charge['id']}" if paid else None
    charge["refunds"] = {"object": "list", "data": [], "has_more": False, "url": f"/v1/charges/{charge['id']}/refunds"}
    if paid and card.dispute is not None:
        charge["_dispute_at"] = now + state.config.dispute_delay_s
        charge["_dispute_at_kind"] = card.dispute
    state.insert(charge)
    return charge


def _succeed(state: State, pi: Record, pm: Record) -> Record:
    charge = _charge(state, pi, pm, paid=True, failure=None)
    for settle in ON_CHARGE_SUCCEEDED:
        settle(state, pi, charge)
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


def _fail(
    state: State,
    pi: Record,
    pm: Record,
    *,
    code: str | None = None,
    message: str | None = None,
    decline_code: str | None = None,
    charged: bool | None = None,
) -> Record:
    card = test_card_of(pm)
    failure: dict[str, str | None] = {
        "code": code or card.error_code,
        "decline_code": decline_code if code else card.decline_code,
        "message": message or card.message,
    }
    charge = None
    if charged if charged is not None else code is None:
        charge = _charge(state, pi, pm, paid=False, failure=failure)
        state.emit("charge.failed", charge)
    with state.changing(pi, "payment_intent.payment_failed"):
        pi["status"] = "requires_payment_method"
        pi["latest_charge"] = charge["id"] if charge else pi["latest_charge"]
        error = {
            "charge": charge["id"] if charge else None,
            "code": failure["code"],
            "decline_code": failure["decline_code"],
            "doc_url": f"https://stripe.com/docs/error-codes/{str(failure['code']).replace('_', '-')}",
            "message": failure["message"],
            "payment_method": state.snapshot(pm),
            "payment_method_type": "card",
            "type": "card_error",
        }
        # Stripe leaves out what it does not know (no advice, no network code, no param).
        pi["last_payment_error"] = {k: v for k, v in error.items() if v is not None}
    for hook in ON_FAILED:
        hook(state, pi)
    return pi


def card_error(state: State, pi: Record, *, with_intent: bool) -> CardError:
    """Stripe's 402 for a declined payment: the decline, the charge and the payment method, and
    (on a payment intent's own confirmation) the payment intent as it now is."""
    err = pi.get("last_payment_error") or {}
    extra: dict[str, Any] = {"charge": err.get("charge"), "payment_method": err.get("payment_method")}
    if with_intent:
        extra["payment_intent"] = state.snapshot(pi)
    return CardError(
        err.get("message") or "Your card was declined.",
        code=err.get("code") or "card_declined",
        decline_code=err.get("decline_code"),
        extra={k: v for k, v in extra.items() if v is not None},
    )


def cancel(state: State, pi: Record, reason: str | None = None) -> Record:
    with state.changing(pi, "payment_intent.canceled"):
        pi["status"] = "canceled"
        pi["canceled_at"] = state.now_for(pi)
        pi["cancellation_reason"] = reason
        pi["next_action"] = None
    return pi


# Disputes the customer's bank can still decide on (an inquiry's `warning_*`, a chargeback's).
OPEN_DISPUTE = ("warning_needs_response", "warning_under_review", "needs_response", "under_review")
# Evidence can be staged or submitted only before it is submitted.
AWAITING_EVIDENCE = ("warning_needs_response", "needs_response")
# Each test card's dispute: (reason, Visa's reason code), and whether it is an inquiry.
DISPUTES = {
    "fraudulent": ("fraudulent", "10.4"),
    "product_not_received": ("product_not_received", "13.1"),
    "inquiry": ("fraudulent", "10.4"),
}


def refund(
    state: State,
    charge: Record,
    amount: int | None,
    *,
    reason: str | None = None,
    metadata: dict[str, str] | None = None,
    reverse_transfer: bool = False,
    refund_application_fee: bool = False,
) -> Record:
    """Refund `amount` of the charge (None: what is left). A card's documented refund outcome
    decides its status: most succeed at once; 4000000000007726's stay `pending`, then succeed;
    4000000000005126's show `succeeded`, then fail (`refund.failed`) and the money is the
    merchant's again (both `refund_settle_s` later)."""
    remaining = charge["amount_captured"] - charge["amount_refunded"]
    amount = remaining if amount is None else amount
    if charge["status"] != "succeeded":
        raise InvalidRequest("This charge cannot be refunded because it did not succeed.", param="charge")
    if any(d["charge"] == charge["id"] and not d["status"].startswith("warning_") for d in state.all("dispute")):
        raise InvalidRequest(
            f"Charge {charge['id']} has been charged back; cannot issue a refund.",
            param="charge",
            code="charge_disputed",
        )
    if amount <= 0 or amount > remaining:
        raise InvalidRequest(
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
            param="amount",
            code="amount_too_large" if amount > remaining else None,
        )
    outcome = test_card_of(state.get(charge["payment_method"], "payment_method")).refund
    created = state.now_for(charge)
    ref = new_record(
        "refund",
        "re",
        created=created,
        amount=amount,
        balance_transaction=None,
        charge=charge["id"],
        currency=charge["currency"],
        customer=charge.get("customer"),
        customer_account=None,
        destination_details={
            "card": {
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
        status="pending" if outcome == "pending" else "succeeded",
        transfer_reversal=None,
    )
    if outcome == "pending":
        ref["pending_reason"] = "processing"
    if outcome != "succeed":
        ref["_settle_at"] = created + state.config.refund_settle_s
    ref["metadata"] = dict(metadata or {})
    state.insert(ref)
    options = {"reverse_transfer": reverse_transfer, "refund_application_fee": refund_application_fee}
    for hook in ON_REFUNDED:
        hook(state, charge, ref, options)
    state.emit("refund.created", ref)
    with state.changing(charge, "charge.refunded"):
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
    return ref


@timer("refund", lambda state, r: r.get("_settle_at"))
def settle_refund(state: State, ref: Record, at: int) -> None:
    """A pending refund succeeds; a refund to a card that cannot take it fails, and the charge
    has that much less refunded."""
    ref.pop("_settle_at", None)
    if ref["status"] == "pending":
        with state.changing(ref, "refund.updated"):
            ref["status"] = "succeeded"
            ref.pop("pending_reason", None)
        return
    with state.changing(ref, "refund.updated"):
        ref["status"] = "failed"
        ref["failure_reason"] = "expired_or_canceled_card"
    state.emit("refund.failed", ref)
    charge = state.get(str(ref["charge"]), "charge")
    with state.changing(charge):
        charge["amount_refunded"] -= ref["amount"]
        charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]


@timer("charge", lambda state, c: c.get("_dispute_at"))
def open_dispute(state: State, charge: Record, at: int) -> None:
    """The bank of a dispute test card's holder disputes the payment: a chargeback (the funds
    are withdrawn at once) or an inquiry, with evidence due `dispute_response_days` later."""
    kind = charge.pop("_dispute_at_kind", "fraudulent")
    charge.pop("_dispute_at", None)
    reason, code = DISPUTES[kind]
    inquiry = kind == "inquiry"
    due = at + state.config.dispute_response_days * 24 * 3600
    dispute = new_record(
        "dispute",
        "dp",
        created=at,
        amount=charge["amount"],
        balance_transactions=[],
        charge=charge["id"],
        currency=charge["currency"],
        enhanced_eligibility_types=[],
        is_charge_refundable=inquiry,
        payment_intent=charge["payment_intent"],
        reason=reason,
        status="warning_needs_response" if inquiry else "needs_response",
    )
    dispute["evidence_details"] = {
        "due_by": due,
        "enhanced_eligibility": {},
        "has_evidence": False,
        "past_due": False,
        "submission_count": 0,
        "submission_method": "not_submitted",
    }
    dispute["payment_method_details"] = {
        "card": {
            "brand": charge["payment_method_details"]["card"]["brand"],
            "case_type": "inquiry" if inquiry else "chargeback",
            "network": charge["payment_method_details"]["card"]["network"],
            "network_reason_code": code,
        },
        "type": "card",
    }
    dispute["_customer"] = charge.get("customer")
    dispute["_due_at"] = due
    state.insert(dispute)
    with state.changing(charge):
        charge["disputed"] = True
    state.emit("charge.dispute.created", dispute)
    if not inquiry:
        state.emit("charge.dispute.funds_withdrawn", dispute)


@timer("dispute", lambda state, d: d.get("_due_at"))
def evidence_past_due(state: State, dispute: Record, at: int) -> None:
    """The deadline passed: evidence can no longer be sent (the bank decides without it)."""
    dispute.pop("_due_at", None)
    if dispute["status"] not in AWAITING_EVIDENCE:
        return
    with state.changing(dispute):
        dispute["evidence_details"]["past_due"] = True


def submit_evidence(state: State, dispute: Record) -> None:
    """The evidence goes to the bank: the dispute is under review until the bank decides."""
    details = dispute["evidence_details"]
    details["submission_count"] += 1
    details["submission_method"] = "manual"
    dispute["status"] = "warning_under_review" if dispute["status"].startswith("warning_") else "under_review"


def close_dispute(state: State, dispute: Record, status: str) -> Record:
    """The bank decided (`won` or `lost`), or the merchant accepted it (`lost`). An inquiry
    that is not escalated closes as `warning_closed`."""
    if dispute["status"].startswith("warning_") and status == "won":
        status = "warning_closed"
    dispute.pop("_due_at", None)
    with state.changing(dispute, "charge.dispute.updated"):
        dispute["status"] = status
    state.emit("charge.dispute.closed", dispute)
    if status == "won":
        state.emit("charge.dispute.funds_reinstated", dispute)
    return dispute
