"""Invoices: draft → open → paid | uncollectible | void, with Stripe's payment attempts,
smart-retry schedule, discounts, tax and customer balance."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from stripesim.billing import payment_methods as pms
from stripesim.billing import payments
from stripesim.engine import timer
from stripesim.ids import new_id
from stripesim.resources._common import new_record
from stripesim.state import Record, State, renderer

DAY = 86400
DRAFT_GRACE_S = 3600  # renewal invoices stay draft for an hour before Stripe finalizes them
INCOMPLETE_EXPIRY_S = 23 * 3600


def new_invoice(
    state: State,
    customer: Record,
    *,
    billing_reason: str,
    currency: str,
    subscription: Record | None = None,
    period_start: int | None = None,
    period_end: int | None = None,
    collection_method: str = "charge_automatically",
    days_until_due: int | None = None,
    automatic_tax: bool = False,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    discount_ids: list[str] | None = None,
    at: int | None = None,
) -> Record:
    """A draft invoice, not yet stored: add lines, then `create`."""
    now = at if at is not None else state.now_for(customer)
    parent = None
    if subscription is not None:
        parent = {
            "quote_details": None,
            "subscription_details": {
                "metadata": dict(subscription.get("metadata") or {}),
                "subscription": subscription["id"],
            },
            "type": "subscription_details",
        }
    invoice = new_record(
        state,
        "invoice",
        "in",
        created=now,
        account_country="US",
        account_name="stripesim",
        account_tax_ids=None,
        amount_due=0,
        amount_overpaid=0,
        amount_paid=0,
        amount_remaining=0,
        amount_shipping=0,
        application=None,
        attempt_count=0,
        attempted=False,
        auto_advance=collection_method == "charge_automatically",
        automatically_finalizes_at=None,
        billing_reason=billing_reason,
        collection_method=collection_method,
        currency=currency,
        custom_fields=None,
        customer=customer["id"],
        customer_account=None,
        customer_address=customer.get("address"),
        customer_email=customer.get("email"),
        customer_name=customer.get("name"),
        customer_phone=customer.get("phone"),
        customer_shipping=None,
        customer_tax_exempt=customer.get("tax_exempt") or "none",
        customer_tax_ids=[],
        default_payment_method=None,
        default_source=None,
        default_tax_rates=[],
        description=description,
        discounts=[],
        due_date=None,
        effective_at=None,
        ending_balance=None,
        footer=None,
        from_invoice=None,
        hosted_invoice_url=None,
        invoice_pdf=None,
        issuer={"type": "self"},
        last_finalization_error=None,
        latest_revision=None,
        next_payment_attempt=None,
        number=None,
        on_behalf_of=None,
        parent=parent,
        period_end=period_end if period_end is not None else now,
        period_start=period_start if period_start is not None else now,
        post_payment_credit_notes_amount=0,
        pre_payment_credit_notes_amount=0,
        receipt_number=None,
        rendering=None,
        shipping_cost=None,
        shipping_details=None,
        starting_balance=0,
        statement_descriptor=None,
        status="draft",
        subtotal=0,
        subtotal_excluding_tax=0,
        test_clock=customer.get("test_clock"),
        total=0,
        total_discount_amounts=[],
        total_excluding_tax=0,
        total_pretax_credit_amounts=[],
        total_taxes=[],
        webhooks_delivered_at=None,
    )
    invoice.pop("subscription", None)
    invoice["automatic_tax"] = {
        "disabled_reason": None,
        "enabled": automatic_tax,
        "liability": {"type": "self"} if automatic_tax else None,
        "provider": "stripe" if automatic_tax else None,
        "status": "complete" if automatic_tax else None,
    }
    invoice["payment_settings"] = {
        "default_mandate": None,
        "payment_method_options": None,
        "payment_method_types": None,
    }
    invoice["status_transitions"] = {
        "finalized_at": None,
        "marked_uncollectible_at": None,
        "paid_at": None,
        "voided_at": None,
    }
    invoice["metadata"] = dict(metadata or {})
    if collection_method == "send_invoice":
        invoice["due_date"] = now + (days_until_due or 30) * DAY
    invoice["discounts"] = list(discount_ids or [])
    invoice["_lines"] = []
    invoice["_subscription"] = subscription["id"] if subscription else None
    return invoice


def subscription_of(invoice: Record) -> str | None:
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or {}
    return details.get("subscription")


def add_line(
    state: State,
    invoice: Record,
    *,
    amount: int,
    description: str,
    price: Record | None,
    quantity: int | None,
    period_start: int,
    period_end: int,
    subscription: str | None = None,
    subscription_item: str | None = None,
    invoice_item: str | None = None,
    proration: bool = False,
    discountable: bool = True,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    details: dict[str, Any] = {
        "invoice_item": invoice_item,
        "proration": proration,
        "proration_details": {"credited_items": None},
    }
    if invoice_item:
        parent = {
            "invoice_item_details": {**details, "subscription": subscription},
            "subscription_item_details": None,
            "type": "invoice_item_details",
        }
    else:
        parent = {
            "invoice_item_details": None,
            "subscription_item_details": {
                **details,
                "subscription": subscription,
                "subscription_item": subscription_item,
            },
            "type": "subscription_item_details",
        }
    line = {
        "amount": amount,
        "currency": invoice["currency"],
        "description": description,
        "discount_amounts": [],
        "discountable": discountable,
        "discounts": [],
        "id": new_id("il"),
        "invoice": invoice["id"],
        "livemode": False,
        "metadata": dict(metadata or {}),
        "object": "line_item",
        "parent": parent,
        "period": {"end": period_end, "start": period_start},
        "pretax_credit_amounts": [],
        "pricing": {
            "price_details": {"price": price["id"], "product": price["product"]} if price else None,
            "type": "price_details",
            "unit_amount_decimal": price.get("unit_amount_decimal") if price else None,
        },
        "quantity": quantity,
        "quantity_decimal": str(quantity) if quantity is not None else None,
        "subscription": subscription,
        "subtotal": amount,
        "taxes": [],
    }
    invoice["_lines"].append(line)
    return line


def sweep_pending_items(state: State, invoice: Record, subscription_id: str | None) -> None:
    """Pending invoice items (prorations) of the customer/subscription move onto this invoice."""
    for item in list(state.all("invoiceitem")):
        if item.get("invoice") or item["customer"] != invoice["customer"]:
            continue
        parent = item.get("parent") or {}
        item_sub = (parent.get("subscription_details") or {}).get("subscription")
        if subscription_id is not None and item_sub not in (None, subscription_id):
            continue
        item["invoice"] = invoice["id"]
        price = state.find(((item.get("pricing") or {}).get("price_details") or {}).get("price"))
        add_line(
            state,
            invoice,
            amount=item["amount"],
            description=item["description"] or "",
            price=price,
            quantity=item["quantity"],
            period_start=item["period"]["start"],
            period_end=item["period"]["end"],
            subscription=item_sub,
            invoice_item=item["id"],
            proration=item["proration"],
            discountable=item["discountable"],
        )


def _round(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def compute_totals(state: State, invoice: Record) -> None:
    lines = invoice["_lines"]
    subtotal = sum(line["amount"] for line in lines)
    at = invoice["created"]
    for line in lines:
        line["discount_amounts"] = []
        line["discounts"] = []
        line["taxes"] = []
    total_discounts: list[dict[str, Any]] = []
    for discount_id in invoice["discounts"]:
        discount = state.find(discount_id, "discount")
        if discount is None:
            continue
        from stripesim.billing.discounts import applies_to_products

        applies = applies_to_products(discount)
        eligible = [
            line
            for line in lines
            if line["discountable"]
            and line["amount"] > 0
            and (not applies or ((line["pricing"].get("price_details") or {}).get("product") in applies))
        ]
        base = sum(line["amount"] - sum(d["amount"] for d in line["discount_amounts"]) for line in eligible)
        if base <= 0:
            continue
        from stripesim.billing.discounts import discount_amount

        off = min(base, discount_amount(state, discount, base, at=at))
        if off <= 0:
            continue
        total_discounts.append({"amount": off, "discount": discount_id})
        remaining = off
        for i, line in enumerate(eligible):
            share = remaining if i == len(eligible) - 1 else _round(Decimal(off) * line["amount"] / base)
            share = min(share, remaining)
            remaining -= share
            line["discount_amounts"].append({"amount": share, "discount": discount_id})
            line["discounts"].append(discount_id)
    discount_total = sum(d["amount"] for d in total_discounts)
    taxes: list[dict[str, Any]] = []
    rates = _tax_rates(state, invoice)
    for line in lines:
        taxable = line["amount"] - sum(d["amount"] for d in line["discount_amounts"])
        for rate in rates:
            pct = Decimal(str(rate["percentage"]))
            if rate.get("inclusive"):
                tax = _round(Decimal(taxable) - Decimal(taxable) / (1 + pct / 100))
            else:
                tax = _round(Decimal(taxable) * pct / 100)
            entry = {
                "amount": tax,
                "tax_behavior": "inclusive" if rate.get("inclusive") else "exclusive",
                "tax_rate_details": {"tax_rate": rate["id"]},
                "taxability_reason": "standard_rated",
                "taxable_amount": taxable,
                "type": "tax_rate_details",
            }
            line["taxes"].append(entry)
    for rate in rates:
        amount = sum(
            t["amount"] for line in lines for t in line["taxes"] if t["tax_rate_details"]["tax_rate"] == rate["id"]
        )
        taxable = sum(
            t["taxable_amount"]
            for line in lines
            for t in line["taxes"]
            if t["tax_rate_details"]["tax_rate"] == rate["id"]
        )
        taxes.append(
            {
                "amount": amount,
                "tax_behavior": "inclusive" if rate.get("inclusive") else "exclusive",
                "tax_rate_details": {"tax_rate": rate["id"]},
                "taxability_reason": "standard_rated",
                "taxable_amount": taxable,
                "type": "tax_rate_details",
            }
        )
    exclusive_tax = sum(t["amount"] for t in taxes if t["tax_behavior"] == "exclusive")
    inclusive_tax = sum(t["amount"] for t in taxes if t["tax_behavior"] == "inclusive")
    invoice["subtotal"] = subtotal
    invoice["subtotal_excluding_tax"] = subtotal - inclusive_tax
    invoice["total_discount_amounts"] = total_discounts
    invoice["total_taxes"] = taxes
    invoice["total"] = subtotal - discount_total + exclusive_tax
    invoice["total_excluding_tax"] = subtotal - discount_total - inclusive_tax
    invoice["amount_due"] = max(0, invoice["total"])
    invoice["amount_remaining"] = invoice["amount_due"] - invoice["amount_paid"]


def _tax_rates(state: State, invoice: Record) -> list[Record]:
    rates = [state.find(r, "tax_rate") for r in invoice.get("default_tax_rates") or []]
    found = [r for r in rates if r is not None]
    if invoice["automatic_tax"]["enabled"]:
        found.append(automatic_tax_rate(state))
    return found


def automatic_tax_rate(state: State) -> Record:
    """`automatic_tax` is simulated as one flat exclusive rate (configurable)."""
    rate_id = state.extras.get("automatic_tax_rate")
    pct = state.config.automatic_tax_percent
    found = state.find(rate_id, "tax_rate") if rate_id else None
    if found is not None and found["percentage"] == pct:
        return found
    record = new_record(
        state,
        "tax_rate",
        "txr",
        created=state.now(),
        active=True,
        country="US",
        description="stripesim automatic tax (flat rate)",
        display_name="Sales tax",
        effective_percentage=pct,
        flat_amount=None,
        inclusive=False,
        jurisdiction="SIM",
        jurisdiction_level="state",
        percentage=pct,
        rate_type="percentage",
        state=None,
        tax_type="sales_tax",
    )
    state.insert(record)
    state.extras["automatic_tax_rate"] = record["id"]
    return record


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
        invoice["hosted_invoice_url"] = f"{payments.base_url(state)}/invoices/{invoice['id']}"
        invoice["invoice_pdf"] = f"{payments.base_url(state)}/invoices/{invoice['id']}/pdf"
    customer["next_invoice_sequence"] += 1
    if balance != invoice["ending_balance"]:
        with state.changing(customer):
            customer["balance"] = invoice["ending_balance"]
    from stripesim.billing.discounts import mark_used

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
    sub = state.find(subscription_of(invoice) or "", "subscription")
    pm = pm or pms.default_for(state, customer, sub)
    pi = _intent_for(state, invoice)
    invoice["attempted"] = True
    invoice["attempt_count"] += 1
    invoice["next_payment_attempt"] = None
    if pm is None:
        _payment_failed(state, invoice, pi, "no_payment_method")
        return invoice
    if pi["status"] == "requires_action":
        # A new attempt replaces the unfinished authentication.
        pi["status"] = "requires_payment_method"
        pi["next_action"] = None
    payments.confirm(state, pi, pm, off_session=off_session, authenticated=authenticated)
    return invoice


def _intent_for(state: State, invoice: Record) -> Record:
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
    )
    invoice["_payment_intent"] = pi["id"]
    payment = new_record(
        state,
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
    payment["payment"] = {"charge": None, "payment_intent": pi["id"], "payment_record": None, "type": "payment_intent"}
    payment["status_transitions"] = {"canceled_at": None, "paid_at": None}
    payment.pop("metadata", None)
    state.insert(payment)
    invoice["_invoice_payment"] = payment["id"]
    return pi


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
    from stripesim.billing import subscriptions

    subscriptions.on_invoice_payment_failed(state, invoice, exhausted=next_attempt is None and not is_creation)


def _mark_paid(state: State, invoice: Record, pi: Record | None) -> None:
    now = state.now_for(invoice)
    payment = state.find(invoice.get("_invoice_payment") or "", "invoice_payment")
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
    from stripesim.billing import subscriptions

    subscriptions.on_invoice_paid(state, invoice)


def void(state: State, invoice: Record) -> Record:
    now = state.now_for(invoice)
    with state.changing(invoice, "invoice.voided"):
        invoice["status"] = "void"
        invoice["next_payment_attempt"] = None
        invoice["amount_remaining"] = 0
        invoice["status_transitions"]["voided_at"] = now
    pi = state.find(invoice.get("_payment_intent") or "", "payment_intent")
    if pi is not None and pi["status"] not in ("succeeded", "canceled"):
        payments.cancel(state, pi, "void_invoice")
    payment = state.find(invoice.get("_invoice_payment") or "", "invoice_payment")
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


def pay_out_of_band(state: State, invoice: Record) -> Record:
    _mark_paid(state, invoice, None)
    return invoice


# ----- payment outcomes ---------------------------------------------------------------------
def _on_pi_succeeded(state: State, pi: Record) -> None:
    invoice = state.find(pi["_for"].get("invoice") or "", "invoice")
    if invoice is not None and invoice["status"] in ("open", "uncollectible"):
        _mark_paid(state, invoice, pi)


def _on_pi_failed(state: State, pi: Record) -> None:
    invoice = state.find(pi["_for"].get("invoice") or "", "invoice")
    if invoice is not None and invoice["status"] == "open":
        _payment_failed(state, invoice, pi, "card_declined")


def _on_pi_requires_action(state: State, pi: Record) -> None:
    invoice = state.find(pi["_for"].get("invoice") or "", "invoice")
    if invoice is None or invoice["status"] != "open":
        return
    state.emit("invoice.payment_action_required", invoice)
    from stripesim.billing import subscriptions

    subscriptions.on_invoice_action_required(state, invoice)


payments.ON_SUCCEEDED.append(_on_pi_succeeded)
payments.ON_FAILED.append(_on_pi_failed)
payments.ON_REQUIRES_ACTION.append(_on_pi_requires_action)


# ----- time ---------------------------------------------------------------------------------
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
    sub = state.find(subscription_of(invoice) or "", "subscription")
    pause = sub.get("pause_collection") if sub else None
    return pause["behavior"] if pause else None


@renderer("invoice")
def render_invoice(state: State, invoice: Record) -> Record:
    shown = dict(invoice)
    lines = invoice.get("_lines", [])
    shown["lines"] = {"object": "list", "data": lines, "has_more": False, "url": f"/v1/invoices/{invoice['id']}/lines"}
    return shown
