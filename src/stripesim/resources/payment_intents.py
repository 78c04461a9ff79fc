"""Payment intents, charges and refunds: /v1/payment_intents, /v1/charges, /v1/refunds."""

from __future__ import annotations

from stripesim.billing import payment_methods as pms
from stripesim.billing import payments
from stripesim.billing.invoices import invoice_collected_by
from stripesim.errors import InvalidRequest
from stripesim.present import list_page
from stripesim.resources._common import apply_metadata, created_match, equal_match, every, list_where
from stripesim.routes import Ctx, api
from stripesim.state import Record

_PI_FIELDS = (
    "amount",
    "currency",
    "customer",
    "payment_method",
    "confirm",
    "off_session",
    "description",
    "metadata",
    "setup_future_usage",
    "receipt_email",
    "automatic_payment_methods",
    "return_url",
    "statement_descriptor",
    "statement_descriptor_suffix",
    "capture_method",
    "payment_method_types",
    "error_on_requires_action",
)


def _confirm(ctx: Ctx, pi: Record, pm_id: str | None, off_session: bool) -> Record:
    state = ctx.state
    pm_id = pm_id or pi.get("payment_method")
    if not pm_id:
        raise InvalidRequest(
            "You cannot confirm this PaymentIntent because it's missing a payment method.",
            param="payment_method",
            code="payment_intent_unexpected_state",
        )
    pm = pms.resolve(state, pm_id, "payment_method")
    if pi["customer"] and pm.get("customer") not in (None, pi["customer"]):
        raise InvalidRequest("The payment method belongs to another customer.", param="payment_method")
    if pi["setup_future_usage"] and pi["customer"] and not pm.get("customer"):
        pms.attach(state, pm, state.get(pi["customer"], "customer"))
    payments.confirm(state, pi, pm, off_session=off_session, decline_unauthenticated=True)
    if pi["status"] == "requires_payment_method" and pi.get("last_payment_error"):
        raise payments.card_error(state, pi, with_intent=True)  # a decline is a 402, as on Stripe
    return pi


@api("POST", "/v1/payment_intents")
def create_payment_intent(ctx: Ctx) -> Record:
    p = ctx.params.only(*_PI_FIELDS)
    customer = p.str("customer")
    if customer:
        ctx.state.get(customer, "customer", "customer")
    pi = payments.create_intent(
        ctx.state,
        amount=p.int("amount", required=True, minimum=50) or 0,
        currency=(p.str("currency", required=True) or "").lower(),
        customer=customer,
        description=p.str("description"),
        metadata=p.metadata() or {},
        setup_future_usage=p.str("setup_future_usage", choices=("on_session", "off_session")),
    )
    pi["_return_url"] = p.str("return_url")
    if p.bool("confirm"):
        _confirm(ctx, pi, p.str("payment_method"), bool(p.bool("off_session")))
    elif p.str("payment_method"):
        pi["payment_method"] = pms.resolve(ctx.state, p.str("payment_method") or "", "payment_method")["id"]
        pi["status"] = "requires_confirmation"
    return pi


@api("GET", "/v1/payment_intents/{pi}")
def retrieve_payment_intent(ctx: Ctx, pi: str) -> Record:
    return ctx.state.get(pi, "payment_intent")


@api("POST", "/v1/payment_intents/{pi}")
def update_payment_intent(ctx: Ctx, pi: str) -> Record:
    p = ctx.params.only("metadata", "description", "payment_method", "amount", "receipt_email", "setup_future_usage")
    record = ctx.state.get(pi, "payment_intent")
    with ctx.state.changing(record):
        apply_metadata(record, p)
        if p.has("description"):
            record["description"] = p.str("description")
        if p.has("amount"):
            if record["status"] in ("succeeded", "canceled", "processing"):
                raise InvalidRequest(
                    f"This PaymentIntent's amount could not be updated because it has a status of {record['status']}.",
                    param="amount",
                )
            record["amount"] = p.int("amount", minimum=50)
    return record


@api("POST", "/v1/payment_intents/{pi}/confirm")
def confirm_payment_intent(ctx: Ctx, pi: str) -> Record:
    p = ctx.params.only("payment_method", "off_session", "return_url", "setup_future_usage", "error_on_requires_action")
    record = ctx.state.get(pi, "payment_intent")
    if record["status"] not in ("requires_payment_method", "requires_confirmation", "requires_action"):
        raise InvalidRequest(
            f"You cannot confirm this PaymentIntent because it has a status of {record['status']}.",
            code="payment_intent_unexpected_state",
        )
    if p.str("return_url"):
        record["_return_url"] = p.str("return_url")
    return _confirm(ctx, record, p.str("payment_method"), bool(p.bool("off_session")))


@api("POST", "/v1/payment_intents/{pi}/cancel")
def cancel_payment_intent(ctx: Ctx, pi: str) -> Record:
    p = ctx.params.only("cancellation_reason")
    record = ctx.state.get(pi, "payment_intent")
    if record["status"] in ("succeeded", "canceled"):
        raise InvalidRequest(
            f"You cannot cancel this PaymentIntent because it has a status of {record['status']}.",
            code="payment_intent_unexpected_state",
        )
    if invoice_collected_by(ctx.state, record) is not None:
        raise InvalidRequest("You cannot cancel a PaymentIntent created by an invoice; void the invoice instead.")
    return payments.cancel(ctx.state, record, p.str("cancellation_reason"))


@api("GET", "/v1/payment_intents")
def list_payment_intents(ctx: Ctx) -> Record:
    p = ctx.params.only("customer", "limit", "starting_after", "ending_before", "created")
    keep = every(equal_match(p, "customer"), created_match(p))
    return list_page(ctx.state, "payment_intent", p, "/v1/payment_intents", keep)


@api("GET", "/v1/charges/{charge}")
def retrieve_charge(ctx: Ctx, charge: str) -> Record:
    return ctx.state.get(charge, "charge")


@api("GET", "/v1/charges")
def list_charges(ctx: Ctx) -> Record:
    return list_where(ctx, "charge", "customer", "payment_intent")


@api("POST", "/v1/refunds")
def create_refund(ctx: Ctx) -> Record:
    p = ctx.params.only(
        "charge", "payment_intent", "amount", "reason", "metadata", "refund_application_fee", "reverse_transfer"
    )
    state = ctx.state
    charge_id = p.str("charge")
    if not charge_id:
        pi_id = p.str("payment_intent")
        if not pi_id:
            raise InvalidRequest(
                "One of the following params should be provided for this request: payment_intent or charge.",
                param="charge",
            )
        pi = state.get(pi_id, "payment_intent", "payment_intent")
        charge_id = pi.get("latest_charge")
        if not charge_id or pi["status"] != "succeeded":
            raise InvalidRequest(
                "This PaymentIntent does not have a successful charge to refund.", param="payment_intent"
            )
    charge = state.get(charge_id, "charge", "charge")
    reverse_transfer = bool(p.bool("reverse_transfer"))
    refund_application_fee = bool(p.bool("refund_application_fee"))
    if reverse_transfer and not charge.get("transfer"):
        raise InvalidRequest("This charge has no transfer to reverse.", param="reverse_transfer")
    if refund_application_fee and not charge.get("application_fee"):
        raise InvalidRequest("This charge has no application fee to refund.", param="refund_application_fee")
    return payments.refund(
        state,
        charge,
        p.int("amount", minimum=1),
        reason=p.str("reason", choices=("duplicate", "fraudulent", "requested_by_customer")),
        metadata=p.metadata() or {},
        reverse_transfer=reverse_transfer,
        refund_application_fee=refund_application_fee,
    )


@api("GET", "/v1/refunds/{refund}")
def retrieve_refund(ctx: Ctx, refund: str) -> Record:
    return ctx.state.get(refund, "refund")


@api("GET", "/v1/refunds")
def list_refunds(ctx: Ctx) -> Record:
    return list_where(ctx, "refund", "charge", "payment_intent")
