"""Subscriptions: creation, renewal, trials, dunning outcomes, cancellation and pausing.

Periods live on the items (`current_period_start/end`), as in the pinned API; all items of
a subscription share one billing cycle here. Changes to items are in `changes.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stripesim.billing import invoices
from stripesim.billing import payment_methods as pms
from stripesim.billing.periods import add_interval, period_end
from stripesim.engine import timer
from stripesim.errors import CardError, InvalidRequest
from stripesim.resources._common import new_record
from stripesim.resources.prices import amount_for
from stripesim.state import Record, State, renderer

DAY = 86400
TRIAL_WILL_END_S = 3 * DAY
LIVE = ("active", "trialing", "past_due", "unpaid", "incomplete", "paused")


@dataclass
class ItemSpec:
    price: Record
    quantity: int | None
    metadata: dict[str, str] = field(default_factory=dict)
    item_id: str | None = None  # an existing item being changed


# ----- reading ------------------------------------------------------------------------------
def items_of(state: State, sub: Record) -> list[Record]:
    return [state.objects[i] for i in sub["_items"] if i in state.objects]


def period_of(sub: Record) -> tuple[int, int]:
    return sub["_period_start"], sub["_period_end"]


def is_metered(price: Record) -> bool:
    return bool(price.get("recurring") and price["recurring"].get("usage_type") == "metered")


def product_name(state: State, price: Record) -> str:
    product = state.find(price["product"], "product")
    return product["name"] if product else price["product"]


def line_description(state: State, price: Record, quantity: int | None) -> str:
    name = product_name(state, price)
    unit = price.get("unit_amount")
    interval = (price.get("recurring") or {}).get("interval", "")
    if unit is not None:
        return f"{quantity or 1} × {name} (at ${unit / 100:.2f} / {interval})"
    return f"{quantity or 1} × {name}"


Charge = tuple[Record, int | None, str | None]  # price, quantity, subscription item


def item_charges(state: State, sub: Record) -> list[Charge]:
    return [(state.get(i["price"], "price"), i["quantity"], i["id"]) for i in items_of(state, sub)]


def add_period_lines(
    state: State, invoice: Record, sub_id: str | None, charges: list[Charge], start: int, end: int
) -> None:
    """What the period [start, end) costs in advance: one line per licensed price."""
    for price, quantity, item_id in charges:
        if is_metered(price):
            continue
        invoices.add_line(
            state,
            invoice,
            amount=amount_for(price, quantity or 1),
            description=line_description(state, price, quantity),
            price=price,
            quantity=quantity,
            period_start=start,
            period_end=end,
            subscription=sub_id,
            subscription_item=item_id,
        )


# ----- building -----------------------------------------------------------------------------
def _new_item(state: State, sub: Record, spec: ItemSpec, start: int, end: int) -> Record:
    item = new_record(
        state,
        "subscription_item",
        "si",
        created=start,
        billing_thresholds=None,
        current_period_end=end,
        current_period_start=start,
        discounts=[],
        price=spec.price["id"],
        quantity=None if is_metered(spec.price) else (spec.quantity or 1),
        subscription=sub["id"],
        tax_rates=[],
    )
    item["metadata"] = dict(spec.metadata)
    item.pop("plan", None)
    state.insert(item)
    return item


def validate_items(state: State, specs: list[ItemSpec], param: str = "items") -> None:
    if not specs:
        raise InvalidRequest("Missing required param: items.", param=param, code="parameter_missing")
    currencies = {s.price["currency"] for s in specs}
    intervals = {(s.price["recurring"] or {}).get("interval") for s in specs if s.price.get("recurring")}
    for i, s in enumerate(specs):
        if s.price.get("type") != "recurring":
            raise InvalidRequest(
                "The price specified is set to `type=one_time` but this field only accepts prices "
                "with `type=recurring`.",
                param=f"{param}[{i}][price]",
            )
        if not s.price.get("active"):
            raise InvalidRequest(
                "The price specified is inactive. This field only accepts active prices.",
                param=f"{param}[{i}][price]",
            )
    if len(currencies) > 1:
        raise InvalidRequest("All prices on a subscription must have the same currency.", param=param)
    if len(intervals) > 1:
        raise InvalidRequest("Currently all items on a subscription must share the same billing interval.", param=param)


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
) -> Record:
    """Create a subscription and its first invoice, and try to collect it.

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
        state,
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
        cancellation_details={"comment": None, "feedback": None, "reason": None},
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
        presentment_details=None,
        schedule=None,
        start_date=now,
        status="trialing" if trialing else "incomplete",
        status_details=None,
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
    sub["trial_settings"] = {"end_behavior": {"missing_payment_method": missing_payment_method}}
    sub["payment_settings"] = {
        "payment_method_options": None,
        "payment_method_types": None,
        "save_default_payment_method": "off",
    }
    sub["metadata"] = dict(metadata or {})
    if subscription_id:
        sub["id"] = subscription_id
    sub["_period_start"], sub["_period_end"] = start, end
    sub["_default_tax_rates"] = list(default_tax_rates or [])
    sub["default_tax_rates"] = [state.snapshot(state.get(r, "tax_rate")) for r in sub["_default_tax_rates"]]
    sub["_items"] = []
    sub["_quiet"] = not announce_incomplete and not trialing
    state.insert(sub)
    for spec in specs:
        sub["_items"].append(_new_item(state, sub, spec, start, end)["id"])
    for discount_id in sub["discounts"]:
        discount = state.find(discount_id, "discount")
        if discount is not None:
            discount["subscription"] = sub["id"]
    if not sub["_quiet"]:
        state.emit("customer.subscription.created", sub)

    invoice = first_invoice(state, sub, customer, trialing=trialing)
    sub["latest_invoice"] = invoice["id"]
    invoices.finalize(state, invoice)
    if invoice["status"] == "open" and collection_method == "charge_automatically":
        if payment_behavior == "default_incomplete" and pay_with is None:
            invoices._intent_for(state, invoice)
        else:
            invoices.attempt(state, invoice, pm=pay_with, off_session=pay_with is None, authenticated=authenticated)
    if sub["_quiet"]:
        sub["_quiet"] = False
        if payment_behavior == "error_if_incomplete" and sub["status"] == "incomplete":
            _discard(state, sub, invoice)
            pi = state.find(invoice.get("_payment_intent") or "", "payment_intent")
            err = (pi or {}).get("last_payment_error") or {}
            raise CardError(
                err.get("message") or "Your card was declined.",
                code=err.get("code") or "card_declined",
                decline_code=err.get("decline_code"),
            )
        state.emit("customer.subscription.created", sub)
    return sub


def _discard(state: State, sub: Record, invoice: Record) -> None:
    invoices.void(state, invoice)
    for item_id in sub["_items"]:
        state.remove(item_id)
    state.remove(sub["id"])


def first_invoice(state: State, sub: Record, customer: Record, *, trialing: bool) -> Record:
    start, end = period_of(sub)
    invoice = invoices.new_invoice(
        state,
        customer,
        billing_reason="subscription_create",
        currency=sub["currency"],
        subscription=sub,
        period_start=start,
        period_end=start,
        collection_method=sub["collection_method"],
        days_until_due=sub["days_until_due"],
        automatic_tax=sub["automatic_tax"]["enabled"],
        discount_ids=_discounts_for(state, sub, customer),
    )
    invoice["default_tax_rates"] = list(sub["_default_tax_rates"])
    for item in items_of(state, sub):
        price = state.get(item["price"], "price")
        if is_metered(price):
            continue
        if trialing:
            amount, desc = 0, f"Trial period for {product_name(state, price)}"
        else:
            amount, desc = amount_for(price, item["quantity"]), line_description(state, price, item["quantity"])
        invoices.add_line(
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
    return invoices.create(state, invoice)


def _discounts_for(state: State, sub: Record, customer: Record) -> list[str]:
    ids = list(sub.get("discounts") or [])
    customer_discount = customer.get("_discount")
    if customer_discount and customer_discount not in ids:
        ids.append(customer_discount)
    return ids


# ----- renewal ------------------------------------------------------------------------------
def renew(state: State, sub: Record, at: int) -> Record | None:
    """Start the next period and bill it (licensed in advance, metered in arrears)."""
    old_start, old_end = period_of(sub)
    price0 = state.get(items_of(state, sub)[0]["price"], "price")
    new_end = period_end(old_end, price0["recurring"], sub["billing_cycle_anchor"])
    ending_trial = sub["status"] == "trialing"
    with state.changing(sub):
        sub["_period_start"], sub["_period_end"] = old_end, new_end
        for item in items_of(state, sub):
            item["current_period_start"], item["current_period_end"] = old_end, new_end
        if ending_trial:
            sub["status"] = "active"
    customer = state.get(sub["customer"], "customer")
    reason = "subscription_cycle"
    invoice = invoices.new_invoice(
        state,
        customer,
        billing_reason=reason,
        currency=sub["currency"],
        subscription=sub,
        period_start=old_start,
        period_end=old_end,
        collection_method=sub["collection_method"],
        days_until_due=sub["days_until_due"],
        automatic_tax=sub["automatic_tax"]["enabled"],
        discount_ids=_discounts_for(state, sub, customer),
        at=at,
    )
    invoice["default_tax_rates"] = list(sub["_default_tax_rates"])
    for item in items_of(state, sub):
        price = state.get(item["price"], "price")
        if is_metered(price):  # usage is billed in arrears, for the period that just ended
            from stripesim.billing.meters import usage_for

            usage = usage_for(state, price["recurring"]["meter"], customer["id"], old_start, old_end)
            quantity = int(usage)
            invoices.add_line(
                state,
                invoice,
                amount=amount_for(price, quantity),
                description=line_description(state, price, quantity),
                price=price,
                quantity=quantity,
                period_start=old_start,
                period_end=old_end,
                subscription=sub["id"],
                subscription_item=item["id"],
            )
    add_period_lines(state, invoice, sub["id"], item_charges(state, sub), old_end, new_end)
    invoices.sweep_pending_items(state, invoice, sub["id"])
    invoices.create(state, invoice, finalize_after=invoices.DRAFT_GRACE_S)
    with state.changing(sub):
        sub["latest_invoice"] = invoice["id"]
    if sub["status"] == "unpaid":
        invoice["auto_advance"] = False
        invoice["automatically_finalizes_at"] = None
    return invoice


def end_trial_now(state: State, sub: Record, at: int) -> None:
    """`trial_end=now`: the paid cycle starts now and its first invoice is charged at once."""
    sub["trial_end"] = at
    sub["billing_cycle_anchor"] = at
    sub["_period_end"] = at
    for item in items_of(state, sub):
        item["current_period_end"] = at
    if end_trial_without_payment_method(state, sub, at):
        return
    invoice = renew(state, sub, at)
    if invoice is not None and invoice["status"] == "draft":
        invoices.finalize(state, invoice)
        if invoice["status"] == "open":
            invoices.attempt(state, invoice)


def end_trial_without_payment_method(state: State, sub: Record, at: int) -> bool:
    """Stripe's `trial_settings.end_behavior.missing_payment_method`. True if handled."""
    customer = state.get(sub["customer"], "customer")
    if pms.default_for(state, customer, sub) is not None:
        return False
    behavior = sub["trial_settings"]["end_behavior"]["missing_payment_method"]
    if behavior == "cancel":
        cancel_now(state, sub, at, reason="cancellation_requested")
        return True
    if behavior == "pause":
        with state.changing(sub):
            sub["status"] = "paused"
            sub["status_details"] = {
                "paused": {
                    "subscription": {"type": "trial_end_without_payment_method"},
                    "transitioned_at": at,
                    "type": "subscription",
                }
            }
        state.emit("customer.subscription.paused", sub)
        return True
    return False


# ----- outcomes of invoices -----------------------------------------------------------------
def _sub_of_invoice(state: State, invoice: Record) -> Record | None:
    sub_id = invoices.subscription_of(invoice)
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
    from stripesim.billing import changes

    if sub.get("_pending_invoice") == invoice["id"]:
        changes.apply_pending_update(state, sub)
        return
    if sub["status"] in ("incomplete", "past_due", "unpaid") and not _other_open_invoices(state, sub, invoice):
        now = state.now_for(sub)
        _set_status(state, sub, "trialing" if (sub.get("trial_end") or 0) > now else "active")
    if sub["status"] == "paused" and sub.get("_resume_on_payment") == invoice["id"]:
        sub.pop("_resume_on_payment", None)
        with state.changing(sub, "customer.subscription.resumed"):
            sub["status"] = "active"
            sub["status_details"] = None


def _other_open_invoices(state: State, sub: Record, paid: Record) -> bool:
    return any(
        inv["id"] != paid["id"]
        and inv["status"] == "open"
        and invoices.subscription_of(inv) == sub["id"]
        and inv["billing_reason"] != "subscription_update"
        for inv in state.all("invoice")
    )


def on_invoice_payment_failed(state: State, invoice: Record, *, exhausted: bool) -> None:
    sub = _sub_of_invoice(state, invoice)
    if sub is None or sub.get("_pending_invoice") == invoice["id"]:
        return
    if invoice["billing_reason"] == "subscription_create":
        return
    if sub["status"] in ("active", "trialing"):
        _set_status(state, sub, "past_due")
    if exhausted:
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


# ----- cancellation -------------------------------------------------------------------------
def cancel_now(
    state: State,
    sub: Record,
    at: int,
    *,
    reason: str | None = "cancellation_requested",
    comment: str | None = None,
    feedback: str | None = None,
) -> Record:
    if sub["status"] in ("canceled", "incomplete_expired"):
        return sub
    sub["status"] = "canceled"
    sub["canceled_at"] = sub.get("canceled_at") or at
    sub["ended_at"] = at
    sub["cancel_at_period_end"] = False if sub["_period_end"] > at else sub["cancel_at_period_end"]
    sub["cancellation_details"] = {"comment": comment, "feedback": feedback, "reason": reason}
    sub["pending_update"] = None
    state.emit("customer.subscription.deleted", sub)
    schedule = state.find(sub.get("schedule") or "", "subscription_schedule")
    if schedule is not None and schedule["status"] in ("active", "not_started"):
        from stripesim.billing import schedules

        schedules.mark_canceled(state, schedule, at)
    return sub


def cancel_for_deleted_customer(state: State, customer: Record) -> None:
    now = state.now_for(customer)
    for sub in state.where("subscription", customer=customer["id"]):
        cancel_now(state, sub, now)


def credit_unused_time(state: State, sub: Record, at: int) -> None:
    """A pending credit for the unused part of the current period (cancel with prorate).

    Only paid time is credited: a trial or a pause has nothing to give back.
    """
    from stripesim.billing import changes

    if sub["status"] in ("trialing", "paused", "incomplete", "incomplete_expired"):
        return
    start, end = period_of(sub)
    for item in items_of(state, sub):
        price = state.get(item["price"], "price")
        if is_metered(price):
            continue
        amount = changes.prorated(amount_for(price, item["quantity"]), start, end, at)
        if amount:
            changes.pending_item(
                state,
                sub,
                price,
                item["quantity"],
                -amount,
                changes.time_label("Unused", state, price, item["quantity"], at),
                at,
                end,
            )


# ----- pausing ------------------------------------------------------------------------------
def pause(state: State, sub: Record, at: int, *, credit_unused: bool) -> Record:
    if sub["status"] not in ("active", "trialing", "past_due"):
        raise InvalidRequest(f"A subscription with status {sub['status']} cannot be paused.", param="subscription")
    if sub.get("schedule"):
        raise InvalidRequest(
            "Cannot pause subscriptions with attached schedules; use pause_collection instead.",
            param="subscription",
        )
    if credit_unused:
        credit_unused_time(state, sub, at)
    with state.changing(sub):
        sub["status"] = "paused"
        sub["_paused_at"] = at
        sub["status_details"] = {
            "paused": {"subscription": {"type": "pause_requested"}, "transitioned_at": at, "type": "subscription"}
        }
    state.emit("customer.subscription.paused", sub)
    return sub


def resume(
    state: State, sub: Record, at: int, *, anchor_now: bool, proration_behavior: str, on_success_only: bool
) -> Record:
    if sub["status"] != "paused":
        raise InvalidRequest("Only a paused subscription can be resumed.", param="subscription")
    if not anchor_now:
        with state.changing(sub, "customer.subscription.resumed"):
            sub["status"] = "active"
            sub["status_details"] = None
        return sub
    price0 = state.get(items_of(state, sub)[0]["price"], "price")
    end = add_interval(at, price0["recurring"]["interval"], price0["recurring"].get("interval_count") or 1)
    customer = state.get(sub["customer"], "customer")
    with state.changing(sub):
        sub["billing_cycle_anchor"] = at
        sub["_period_start"], sub["_period_end"] = at, end
        for item in items_of(state, sub):
            item["current_period_start"], item["current_period_end"] = at, end
    invoice = invoices.new_invoice(
        state,
        customer,
        billing_reason="subscription_cycle",
        currency=sub["currency"],
        subscription=sub,
        period_start=at,
        period_end=at,
        automatic_tax=sub["automatic_tax"]["enabled"],
        discount_ids=_discounts_for(state, sub, customer),
        at=at,
    )
    add_period_lines(state, invoice, sub["id"], item_charges(state, sub), at, end)
    invoices.sweep_pending_items(state, invoice, sub["id"])
    invoices.create(state, invoice)
    sub["latest_invoice"] = invoice["id"]
    if on_success_only:
        sub["_resume_on_payment"] = invoice["id"]
    else:
        with state.changing(sub, "customer.subscription.resumed"):
            sub["status"] = "active"
            sub["status_details"] = None
    invoices.finalize(state, invoice)
    if invoice["status"] == "open":
        invoices.attempt(state, invoice)
    return sub


# ----- time ---------------------------------------------------------------------------------
def _next_due(state: State, sub: Record) -> int | None:
    status = sub["status"]
    if status in ("canceled", "incomplete_expired", "paused"):
        return None
    if status == "incomplete":
        return sub["created"] + invoices.INCOMPLETE_EXPIRY_S
    candidates = []
    pending = sub.get("pending_update")
    if pending:
        candidates.append(pending["expires_at"])
    if sub.get("pause_collection") and sub["pause_collection"].get("resumes_at"):
        candidates.append(sub["pause_collection"]["resumes_at"])
    warn_at = (sub.get("trial_end") or 0) - TRIAL_WILL_END_S
    warn_pending = status == "trialing" and sub.get("trial_end") and not sub.get("_trial_will_end_sent")
    if warn_pending and warn_at > sub["created"]:
        candidates.append(warn_at)
    if sub.get("cancel_at") and sub["cancel_at"] <= sub["_period_end"]:
        candidates.append(sub["cancel_at"])
    upcoming_at = _upcoming_at(state, sub)
    if upcoming_at is not None:
        candidates.append(upcoming_at)
    candidates.append(sub["_period_end"])
    return min(candidates)


def _upcoming_at(state: State, sub: Record) -> int | None:
    """When `invoice.upcoming` is due for this period (Stripe's "upcoming renewal events")."""
    days = state.config.upcoming_invoice_days
    if days <= 0 or sub["cancel_at_period_end"] or sub.get("_upcoming_sent_for") == sub["_period_end"]:
        return None
    at = sub["_period_end"] - int(days * DAY)
    return at if at > sub["_period_start"] else None


def announce_upcoming(state: State, sub: Record) -> None:
    from stripesim.billing import changes

    customer = state.get(sub["customer"], "customer")
    preview = changes.preview(state, customer, sub, [], proration_behavior="create_prorations", at=state.now_for(sub))
    preview["id"] = None  # the upcoming invoice has no id, as on Stripe
    sub["_upcoming_sent_for"] = sub["_period_end"]
    state.emit("invoice.upcoming", preview)


@timer("subscription", _next_due, priority=80)
def advance_subscription(state: State, sub: Record, at: int) -> None:
    if sub["status"] == "incomplete":
        invoice = state.find(sub.get("latest_invoice") or "", "invoice")
        if invoice is not None and invoice["status"] == "open":
            invoices.void(state, invoice)
        with state.changing(sub):
            sub["status"] = "incomplete_expired"
            sub["ended_at"] = at
        return
    pending = sub.get("pending_update")
    if pending and pending["expires_at"] <= at:
        from stripesim.billing import changes

        changes.expire_pending_update(state, sub)
        return
    pause = sub.get("pause_collection")
    if pause and pause.get("resumes_at") and pause["resumes_at"] <= at:
        with state.changing(sub):
            sub["pause_collection"] = None
        return
    if (
        sub["status"] == "trialing"
        and not sub.get("_trial_will_end_sent")
        and sub["trial_end"] - TRIAL_WILL_END_S <= at < sub["trial_end"]
    ):
        sub["_trial_will_end_sent"] = True
        state.emit("customer.subscription.trial_will_end", sub)
        return
    if sub.get("cancel_at") and sub["cancel_at"] <= at:
        cancel_now(state, sub, sub["cancel_at"], reason="cancellation_requested")
        return
    upcoming_at = _upcoming_at(state, sub)
    if upcoming_at is not None and upcoming_at <= at < sub["_period_end"]:
        announce_upcoming(state, sub)
        return
    if at < sub["_period_end"]:
        return
    if sub["cancel_at_period_end"]:
        cancel_now(state, sub, sub["_period_end"], reason="cancellation_requested")
        return
    if sub["status"] == "trialing" and end_trial_without_payment_method(state, sub, at):
        return
    renew(state, sub, at)


@renderer("subscription")
def render_subscription(state: State, sub: Record) -> Record:
    shown = dict(sub)
    shown["items"] = {
        "object": "list",
        "data": [render_item(state, state.objects[i]) for i in sub["_items"] if i in state.objects],
        "has_more": False,
        "url": f"/v1/subscription_items?subscription={sub['id']}",
    }
    return shown


@renderer("subscription_item")
def render_item(state: State, item: Record) -> Record:
    shown = {k: v for k, v in item.items() if k[:1] != "_"}
    price = state.objects.get(item["price"])
    if price is not None:
        shown["price"] = dict(price)
        shown["plan"] = plan_of(price)
    return shown


def plan_of(price: Record) -> dict[str, Any]:
    """The legacy `plan` view of a recurring price, still embedded in subscription items."""
    recurring = price.get("recurring") or {}
    return {
        "active": price["active"],
        "amount": price.get("unit_amount"),
        "amount_decimal": price.get("unit_amount_decimal"),
        "billing_scheme": price["billing_scheme"],
        "created": price["created"],
        "currency": price["currency"],
        "id": price["id"],
        "interval": recurring.get("interval"),
        "interval_count": recurring.get("interval_count"),
        "livemode": False,
        "metadata": price.get("metadata") or {},
        "meter": recurring.get("meter"),
        "nickname": price.get("nickname"),
        "object": "plan",
        "product": price["product"],
        "tiers_mode": price.get("tiers_mode"),
        "transform_usage": None,
        "trial_period_days": recurring.get("trial_period_days"),
        "usage_type": recurring.get("usage_type"),
    }
