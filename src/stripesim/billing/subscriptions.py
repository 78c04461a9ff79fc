"""Starting a subscription, and keeping its status in step with its invoices.

A subscription is created with its first invoice and an attempt to collect it. While that
first outcome is not known the subscription is "quiet": its status changes without events,
and `customer.subscription.created` carries the outcome (unless asked to announce it first).
Afterwards every invoice outcome moves the status: paid → active, failed → past_due, retries
exhausted → canceled or unpaid (`SimConfig.subscription_after_retries`).
"""

from __future__ import annotations

from stripesim.billing import invoices
from stripesim.billing.cancellation import cancel_now
from stripesim.billing.invoice_drafts import add_line, cycle_invoice, subscription_of
from stripesim.billing.payments import card_error
from stripesim.billing.pending_updates import apply_pending_update
from stripesim.billing.periods import period_end
from stripesim.billing.pricing import amount_for
from stripesim.billing.subscription_items import (
    ItemSpec,
    is_metered,
    items_of,
    line_description,
    new_item,
    period_of,
    product_name,
    validate_items,
)
from stripesim.errors import CardError
from stripesim.shapes import new_record
from stripesim.state import Record, State

LIVE = ("active", "trialing", "past_due", "unpaid", "incomplete", "paused")


def create_subscription(
    state: State,
    customer: Record,
    specs: list[ItemSpec],
    *,
    payment_behavior: str = "allow_incomplete",
    default_payment_method: str | None = None,
    trial_end: int | None = None,
    collection_method: str = "charge_automatically",
    days_until_due: int | None = None,
    metadata: dict[str, str] | None = None,
    description: str | None = None,
    cancel_at_period_end: bool = False,
    cancel_at: int | None = None,
    discount_ids: list[str] | None = None,
    automatic_tax: bool = False,
    default_tax_rates: list[str] | None = None,
    missing_payment_method: str = "create_invoice",
    announce_incomplete: bool = False,
    pay_with: Record | None = None,
    authenticated: bool = False,
    subscription_id: str | None = None,
    connect: dict[str, object] | None = None,
) -> Record:
    """Create a subscription and its first invoice, and try to collect it.

    `connect`: a subscription paying a connected account (`transfer_data`,
    `application_fee_percent`, `on_behalf_of`): each of its invoices' payments is a destination
    charge.

    `subscription_id`: an id chosen beforehand, so discounts can name the subscription.

    `announce_incomplete`: emit `customer.subscription.created` while still incomplete, then
    `updated` when paid (Checkout's sequence). Otherwise the created event carries the outcome.
    """
    validate_items(state, specs)
    now = state.now_for(customer)
    trial_until = trial_end if trial_end is not None and trial_end > now else None
    trialing = trial_until is not None
    anchor = trial_until or now
    start = now
    recurring = specs[0].price["recurring"]
    end = trial_until or period_end(start, recurring, anchor)
    sub = new_record(
        "subscription",
        "sub",
        created=now,
        application=None,
        application_fee_percent=None,
        billing_cycle_anchor=anchor,
        billing_cycle_anchor_config=None,
        billing_mode={"flexible": {"proration_discounts": "included"}, "type": "flexible", "updated_at": now},
        billing_schedules=[],
        billing_thresholds=None,
        cancel_at=cancel_at,
        cancel_at_period_end=cancel_at_period_end,
        canceled_at=None,
        cancellation_details={"comment": None, "feedback": None, "feedback_option": None, "reason": None},
        collection_method=collection_method,
        currency=specs[0].price["currency"],
        customer=customer["id"],
        customer_account=None,
        days_until_due=days_until_due if collection_method == "send_invoice" else None,
        default_payment_method=default_payment_method,
        default_source=None,
        default_tax_rates=[],
        description=description,
        discounts=list(discount_ids or []),
        ended_at=None,
        invoice_settings={
            "account_tax_ids": None,
            "custom_fields": None,
            "description": None,
            "footer": None,
            "issuer": {"type": "self"},
        },
        latest_invoice=None,
        managed_payments=None,
        next_pending_invoice_item_invoice=None,
        on_behalf_of=None,
        pause_collection=None,
        pending_invoice_item_interval=None,
        pending_setup_intent=None,
        pending_update=None,
        schedule=None,
        start_date=now,
        status="trialing" if trialing else "incomplete",
        test_clock=customer.get("test_clock"),
        transfer_data=None,
        trial_end=trial_end if trialing else None,
        trial_start=now if trialing else None,
    )
    sub["automatic_tax"] = {
        "disabled_reason": None,
        "enabled": automatic_tax,
        "liability": {"type": "self"} if automatic_tax else None,
    }
    sub["trial_settings"] = {
        "end_behavior": {"billing_cycle_anchor": None, "missing_payment_method": missing_payment_method}
    }
    sub["payment_settings"] = {
        "payment_method_options": None,
        "payment_method_types": None,
        "save_default_payment_method": "off",
    }
    sub["metadata"] = dict(metadata or {})
    for key, value in (connect or {}).items():
        if key in ("application_fee_percent", "on_behalf_of", "transfer_data") and value is not None:
            sub[key] = value
    if subscription_id:
        sub["id"] = subscription_id
    sub["_period_start"], sub["_period_end"] = start, end
    sub["_default_tax_rates"] = list(default_tax_rates or [])
    sub["default_tax_rates"] = [state.snapshot(state.get(r, "tax_rate")) for r in sub["_default_tax_rates"]]
    sub["_items"] = []
    sub["_quiet"] = not announce_incomplete and not trialing
    state.insert(sub)
    for spec in specs:
        sub["_items"].append(new_item(state, sub, spec, start, end)["id"])
    for discount_id in sub["discounts"]:
        discount = state.find(discount_id, "discount")
        if discount is not None:
            discount["subscription"] = sub["id"]
    # The first invoice is the subscription's latest from the start: Stripe's created event
    # already names it, though the invoice's own events come after.
    draft = first_invoice(state, sub, customer, trialing=trialing)
    sub["latest_invoice"] = draft["id"]
    if not sub["_quiet"]:
        state.emit("customer.subscription.created", sub)

    invoice = invoices.create(state, draft)
    invoices.finalize(state, invoice)
    if invoice["status"] == "open" and collection_method == "charge_automatically":
        if payment_behavior == "default_incomplete" and pay_with is None:
            invoices.payment_intent_for(state, invoice)
        else:
            invoices.attempt(state, invoice, pm=pay_with, off_session=pay_with is None, authenticated=authenticated)
    if sub["_quiet"]:
        sub["_quiet"] = False
        if payment_behavior == "error_if_incomplete" and sub["status"] == "incomplete":
            _discard(state, sub, invoice)
            pi = state.find(invoice.get("_payment_intent"), "payment_intent")
            if pi is not None:
                raise card_error(state, pi, with_intent=False)
            raise CardError("Your card was declined.", code="card_declined")
        state.emit("customer.subscription.created", sub)
    return sub


def _discard(state: State, sub: Record, invoice: Record) -> None:
    invoices.void(state, invoice)
    for item_id in sub["_items"]:
        state.remove(item_id)
    state.remove(sub["id"])


def first_invoice(state: State, sub: Record, customer: Record, *, trialing: bool) -> Record:
    """The first invoice's draft, its lines added, not yet stored (`invoices.create`)."""
    start, end = period_of(sub)
    invoice = cycle_invoice(
        state, sub, customer, billing_reason="subscription_create", period_start=start, period_end=start
    )
    for item in items_of(state, sub):
        price = state.get(item["price"], "price")
        if is_metered(price):
            continue
        if trialing:
            amount, desc = 0, f"Trial period for {product_name(state, price)}"
        else:
            amount, desc = amount_for(price, item["quantity"]), line_description(state, price, item["quantity"])
        add_line(
            state,
            invoice,
            amount=amount,
            description=desc,
            price=price,
            quantity=item["quantity"],
            period_start=start,
            period_end=end,
            subscription=sub["id"],
            subscription_item=item["id"],
        )
    return invoice


def _sub_of_invoice(state: State, invoice: Record) -> Record | None:
    sub_id = subscription_of(invoice)
    return state.find(sub_id, "subscription") if sub_id else None


def _set_status(state: State, sub: Record, status: str) -> None:
    if sub["status"] == status:
        return
    if sub.get("_quiet"):
        sub["status"] = status
        return
    with state.changing(sub):
        sub["status"] = status


def on_invoice_paid(state: State, invoice: Record) -> None:
    sub = _sub_of_invoice(state, invoice)
    if sub is None:
        return
    if sub.get("_pending_invoice") == invoice["id"]:
        apply_pending_update(state, sub)
        return
    if sub["status"] in ("incomplete", "past_due", "unpaid") and not _other_open_invoices(state, sub, invoice):
        now = state.now_for(sub)
        _set_status(state, sub, "trialing" if (sub.get("trial_end") or 0) > now else "active")
    if sub["status"] == "paused" and sub.get("_resume_on_payment") == invoice["id"]:
        sub.pop("_resume_on_payment", None)
        with state.changing(sub, "customer.subscription.resumed"):
            sub["status"] = "active"
            sub.pop("status_details", None)


def _other_open_invoices(state: State, sub: Record, paid: Record) -> bool:
    return any(
        inv["id"] != paid["id"]
        and inv["status"] == "open"
        and subscription_of(inv) == sub["id"]
        and inv["billing_reason"] != "subscription_update"
        for inv in state.all("invoice")
    )


def on_invoice_payment_failed(state: State, invoice: Record) -> None:
    sub = _sub_of_invoice(state, invoice)
    if sub is None or sub.get("_pending_invoice") == invoice["id"]:
        return
    if invoice["billing_reason"] == "subscription_create":
        return
    if sub["status"] in ("active", "trialing"):
        _set_status(state, sub, "past_due")
    if invoice["next_payment_attempt"] is None:  # no retry left
        after = state.config.subscription_after_retries
        if after == "canceled":
            cancel_now(state, sub, state.now_for(sub), reason="payment_failed")
        elif after == "unpaid":
            _set_status(state, sub, "unpaid")


def on_invoice_action_required(state: State, invoice: Record) -> None:
    sub = _sub_of_invoice(state, invoice)
    if sub is None or sub.get("_pending_invoice") == invoice["id"]:
        return
    if invoice["billing_reason"] != "subscription_create" and sub["status"] in ("active", "trialing"):
        _set_status(state, sub, "past_due")


invoices.ON_PAID.append(on_invoice_paid)
invoices.ON_PAYMENT_FAILED.append(on_invoice_payment_failed)
invoices.ON_ACTION_REQUIRED.append(on_invoice_action_required)
