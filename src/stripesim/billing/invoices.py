"""Invoices: draft → open → paid | uncollectible | void, with Stripe's payment attempts and
smart-retry schedule, and the customer balance applied at finalization.

What an invoice's outcome means for its subscription is not decided here: modules above
register for `ON_PAID`, `ON_PAYMENT_FAILED` and `ON_ACTION_REQUIRED`.
"""

from __future__ import annotations

from collections.abc import Callable

from stripesim.billing import payment_methods as pms
from stripesim.billing import payments
from stripesim.billing.discounts import mark_used
from stripesim.billing.invoice_drafts import DAY, subscription_of
from stripesim.billing.invoice_totals import compute_totals
from stripesim.engine import timer
from stripesim.errors import InvalidRequest
from stripesim.shapes import new_record
from stripesim.state import Record, State, renderer

DRAFT_GRACE_S = 3600  # renewal invoices stay draft for an hour before Stripe finalizes them

# Reactions to an invoice's outcome, called after the invoice's own events.
InvoiceHook = Callable[[State, Record], None]
ON_PAID: list[InvoiceHook] = []
ON_PAYMENT_FAILED: list[InvoiceHook] = []  # `next_payment_attempt` is None once retries are over
ON_ACTION_REQUIRED: list[InvoiceHook] = []


def require_status(invoice: Record, action: str, allowed: tuple[str, ...]) -> None:
    """Refuse `action` (edit, pay, void, …) on an invoice whose status does not allow it."""
    if invoice["status"] not in allowed:
        raise InvalidRequest(
            f"You can only {action} an invoice with status {' or '.join(allowed)}; this invoice is "
            f"{invoice['status']}.",
            param="invoice",
            code="invoice_not_editable" if action == "edit" else None,
        )


def create(state: State, invoice: Record, *, finalize_after: int | None = None) -> Record:
    """Store a draft invoice (lines added) and announce it."""
    compute_totals(state, invoice)
    if finalize_after is not None and invoice["auto_advance"]:
        invoice["automatically_finalizes_at"] = invoice["created"] + finalize_after
    state.insert(invoice)
    state.emit("invoice.created", invoice)
    return invoice


def finalize(state: State, invoice: Record) -> Record:
    """draft → open (or straight to paid when nothing is due). Applies the customer balance."""
    customer = state.get(invoice["customer"], "customer")
    compute_totals(state, invoice)
    balance = customer.get("balance") or 0
    now = state.now_for(invoice)
    with state.changing(invoice, "invoice.finalized"):
        invoice["starting_balance"] = balance
        due = invoice["total"] + balance
        invoice["amount_due"] = max(0, due)
        invoice["amount_remaining"] = invoice["amount_due"]
        invoice["ending_balance"] = min(0, due)
        invoice["status"] = "open"
        invoice["automatically_finalizes_at"] = None
        invoice["number"] = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
        invoice["effective_at"] = now
        invoice["status_transitions"]["finalized_at"] = now
        invoice["hosted_invoice_url"] = f"{state.base_url()}/invoices/{invoice['id']}"
        invoice["invoice_pdf"] = f"{state.base_url()}/invoices/{invoice['id']}/pdf"
    customer["next_invoice_sequence"] += 1
    if balance != invoice["ending_balance"]:
        with state.changing(customer):
            customer["balance"] = invoice["ending_balance"]
    for discount_id in invoice["discounts"]:
        discount = state.find(discount_id, "discount")
        if discount is not None and any(d["discount"] == discount_id for d in invoice["total_discount_amounts"]):
            mark_used(discount, invoice["id"])
    if invoice["amount_due"] == 0:
        _mark_paid(state, invoice, None)
    return invoice


def attempt(
    state: State, invoice: Record, *, pm: Record | None = None, off_session: bool = True, authenticated: bool = False
) -> Record:
    """One payment attempt with the subscription's or customer's default payment method."""
    if invoice["status"] != "open":
        return invoice
    customer = state.get(invoice["customer"], "customer")
    sub = state.find(subscription_of(invoice), "subscription")
    pm = pm or pms.default_for(state, customer, sub)
    pi = payment_intent_for(state, invoice)
    invoice["attempted"] = True
    invoice["attempt_count"] += 1
    invoice["next_payment_attempt"] = None
    if pm is None:
        _payment_failed(state, invoice, pi, "no_payment_method")
        return invoice
    invoice["_attempted_with"] = pm["id"]
    if pi["status"] == "requires_action":
        # A new attempt replaces the unfinished authentication.
        pi["status"] = "requires_payment_method"
        pi["next_action"] = None
    payments.confirm(state, pi, pm, off_session=off_session, authenticated=authenticated)
    return invoice


def payment_intent_for(state: State, invoice: Record) -> Record:
    pi_id = invoice.get("_payment_intent")
    pi = state.find(pi_id, "payment_intent") if pi_id else None
    if pi is not None and pi["status"] not in ("succeeded", "canceled"):
        return pi
    customer = state.get(invoice["customer"], "customer")
    pi = payments.create_intent(
        state,
        amount=invoice["amount_remaining"],
        currency=invoice["currency"],
        customer=customer["id"],
        description=f"Invoice {invoice['number']}",
        linked_to={"invoice": invoice["id"]},
        connect=_destination(state, invoice),
    )
    _collect_with(state, invoice, pi)
    return pi


def _destination(state: State, invoice: Record) -> dict[str, object] | None:
    """A subscription paying a connected account (`transfer_data`) makes each of its invoices'
    payments a destination charge, with its `application_fee_percent` of the amount as the fee."""
    sub = state.find(subscription_of(invoice), "subscription")
    if sub is None or not sub.get("transfer_data"):
        return None
    percent = sub.get("application_fee_percent")
    fee = round(invoice["amount_remaining"] * float(percent) / 100) if percent else None
    return {
        "transfer_data": {"destination": sub["transfer_data"]["destination"]},
        "application_fee_amount": fee,
        "on_behalf_of": sub.get("on_behalf_of"),
    }


def _collect_with(state: State, invoice: Record, pi: Record) -> None:
    """`pi` collects the invoice: its (default) invoice payment."""
    invoice["_payment_intent"] = pi["id"]
    payment = new_record(
        "invoice_payment",
        "inpay",
        created=state.now_for(invoice),
        amount_paid=None,
        amount_requested=invoice["amount_remaining"],
        currency=invoice["currency"],
        invoice=invoice["id"],
        is_default=True,
        status="open",
    )
    payment["payment"] = {"payment_intent": pi["id"], "type": "payment_intent"}
    payment["status_transitions"] = {"canceled_at": None, "paid_at": None}
    payment.pop("metadata", None)
    state.insert(payment)
    invoice["_invoice_payment"] = payment["id"]


def _payment_failed(state: State, invoice: Record, pi: Record | None, reason: str) -> None:
    schedule = state.config.invoice_retry_days
    first = invoice.setdefault("_first_failure", state.now_for(invoice))
    tries = invoice["attempt_count"]
    is_creation = invoice["billing_reason"] == "subscription_create"
    next_attempt = None
    if not is_creation and invoice["auto_advance"] and tries <= len(schedule):
        next_attempt = int(first + schedule[tries - 1] * DAY)
    with state.changing(invoice, "invoice.payment_failed"):
        invoice["next_payment_attempt"] = next_attempt
    for hook in ON_PAYMENT_FAILED:
        hook(state, invoice)


def _mark_paid(state: State, invoice: Record, pi: Record | None) -> None:
    now = state.now_for(invoice)
    payment = state.find(invoice.get("_invoice_payment"), "invoice_payment")
    if payment is not None and pi is not None:
        payment["status"] = "paid"
        payment["amount_paid"] = pi["amount_received"]
        payment["status_transitions"]["paid_at"] = now
        state.emit("invoice_payment.paid", payment)
    with state.changing(invoice, "invoice.paid"):
        invoice["amount_paid"] = invoice["amount_due"]
        invoice["amount_remaining"] = 0
        invoice["status"] = "paid"
        invoice["next_payment_attempt"] = None
        invoice["status_transitions"]["paid_at"] = now
        invoice["attempted"] = invoice["attempted"] or invoice["amount_due"] == 0
    state.emit("invoice.payment_succeeded", invoice)
    for hook in ON_PAID:
        hook(state, invoice)


def void(state: State, invoice: Record) -> Record:
    now = state.now_for(invoice)
    with state.changing(invoice, "invoice.voided"):
        invoice["status"] = "void"
        invoice["next_payment_attempt"] = None
        invoice["amount_remaining"] = 0
        invoice["status_transitions"]["voided_at"] = now
    pi = state.find(invoice.get("_payment_intent"), "payment_intent")
    if pi is not None and pi["status"] not in ("succeeded", "canceled"):
        payments.cancel(state, pi, "void_invoice")
    payment = state.find(invoice.get("_invoice_payment"), "invoice_payment")
    if payment is not None and payment["status"] == "open":
        payment["status"] = "canceled"
        payment["status_transitions"]["canceled_at"] = now
    return invoice


def mark_uncollectible(state: State, invoice: Record) -> Record:
    with state.changing(invoice, "invoice.marked_uncollectible"):
        invoice["status"] = "uncollectible"
        invoice["next_payment_attempt"] = None
        invoice["status_transitions"]["marked_uncollectible_at"] = state.now_for(invoice)
    return invoice


def settle_with(state: State, invoice: Record, pi: Record) -> Record:
    """Finalize a draft for a payment already made (Checkout's `invoice_creation`) and mark it
    paid by `pi` at once: no attempt, no customer balance applied, the payment's receipt
    reachable from it."""
    customer = state.get(invoice["customer"], "customer")
    compute_totals(state, invoice)
    now = state.now_for(invoice)
    with state.changing(invoice, "invoice.finalized"):
        invoice["amount_due"] = invoice["total"]
        invoice["amount_remaining"] = invoice["total"]
        invoice["starting_balance"] = invoice["ending_balance"] = 0
        invoice["status"] = "open"
        invoice["auto_advance"] = False
        invoice["number"] = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
        invoice["effective_at"] = now
        invoice["status_transitions"]["finalized_at"] = now
        invoice["hosted_invoice_url"] = f"{state.base_url()}/invoices/{invoice['id']}"
        invoice["invoice_pdf"] = f"{state.base_url()}/invoices/{invoice['id']}/pdf"
    customer["next_invoice_sequence"] += 1
    pi["_for"] = {**(pi.get("_for") or {}), "invoice": invoice["id"]}
    invoice["attempted"] = True
    invoice["attempt_count"] = 1
    _collect_with(state, invoice, pi)
    _mark_paid(state, invoice, pi)
    return invoice


def pay_out_of_band(state: State, invoice: Record) -> Record:
    _mark_paid(state, invoice, None)
    return invoice


def invoice_collected_by(state: State, pi: Record) -> Record | None:
    """The invoice a payment intent was created to collect, if it was."""
    return state.find((pi.get("_for") or {}).get("invoice"), "invoice")


def _on_pi_succeeded(state: State, pi: Record) -> None:
    invoice = invoice_collected_by(state, pi)
    if invoice is not None and invoice["status"] in ("open", "uncollectible"):
        _mark_paid(state, invoice, pi)


def _on_pi_failed(state: State, pi: Record) -> None:
    invoice = invoice_collected_by(state, pi)
    if invoice is not None and invoice["status"] == "open":
        _payment_failed(state, invoice, pi, "card_declined")


def _on_pi_requires_action(state: State, pi: Record) -> None:
    invoice = invoice_collected_by(state, pi)
    if invoice is None or invoice["status"] != "open":
        return
    state.emit("invoice.payment_action_required", invoice)
    for hook in ON_ACTION_REQUIRED:
        hook(state, invoice)


def retry_with_new_default(state: State, customer: Record, subscription: Record | None) -> None:
    """As Stripe does: a customer's (or a subscription's) new default payment method pays
    their open invoices at once, each that failed with another method and is still being
    collected automatically (a first invoice, or a pending update's, waits for the customer)."""
    for invoice in list(state.where("invoice", customer=customer["id"])):
        if (
            invoice["status"] != "open"
            or not invoice["auto_advance"]
            or invoice["collection_method"] != "charge_automatically"
            or invoice["attempt_count"] < 1
            or invoice["billing_reason"] == "subscription_create"
        ):
            continue
        sub = state.find(subscription_of(invoice), "subscription")
        if subscription is not None and (sub is None or sub["id"] != subscription["id"]):
            continue
        if sub is not None and sub.get("_pending_invoice") == invoice["id"]:
            continue  # a pending update's invoice is paid by the customer, not retried
        pm = pms.default_for(state, customer, sub)
        if pm is not None and pm["id"] != invoice.get("_attempted_with"):
            attempt(state, invoice, pm=pm)


pms.ON_NEW_DEFAULT.append(retry_with_new_default)
payments.ON_SUCCEEDED.append(_on_pi_succeeded)
payments.ON_FAILED.append(_on_pi_failed)
payments.ON_REQUIRES_ACTION.append(_on_pi_requires_action)


def _next_due(state: State, invoice: Record) -> int | None:
    if invoice["status"] == "draft":
        return invoice.get("automatically_finalizes_at")
    if invoice["status"] == "open" and invoice["auto_advance"]:
        return invoice.get("next_payment_attempt")
    return None


@timer("invoice", _next_due, priority=50)
def advance_invoice(state: State, invoice: Record, at: int) -> None:
    if invoice["status"] == "draft":
        paused = _pause_behavior(state, invoice)
        if paused == "keep_as_draft":
            invoice["automatically_finalizes_at"] = None
            invoice["auto_advance"] = False
            return
        finalize(state, invoice)
        if invoice["status"] != "open":
            return
        if paused == "void":
            void(state, invoice)
        elif paused == "mark_uncollectible":
            mark_uncollectible(state, invoice)
        elif invoice["collection_method"] == "charge_automatically":
            attempt(state, invoice)
        return
    attempt(state, invoice)


def _pause_behavior(state: State, invoice: Record) -> str | None:
    """A subscription with `pause_collection` holds, voids or writes off its new invoices."""
    sub = state.find(subscription_of(invoice), "subscription")
    pause = sub.get("pause_collection") if sub else None
    return pause["behavior"] if pause else None


@renderer("invoice")
def render_invoice(state: State, invoice: Record) -> Record:
    shown = dict(invoice)
    lines = invoice.get("_lines", [])
    shown["lines"] = {"object": "list", "data": lines, "has_more": False, "url": f"/v1/invoices/{invoice['id']}/lines"}
    # Kept as ids (what the totals read), shown as the tax rate objects, as Stripe does.
    rates = [state.find(r, "tax_rate") for r in invoice.get("default_tax_rates") or []]
    shown["default_tax_rates"] = [state.render(r) for r in rates if r is not None]
    return shown
