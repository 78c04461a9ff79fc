"""Invoices, invoice items and invoice payments: /v1/invoices, /v1/invoiceitems, /v1/invoice_payments."""

from __future__ import annotations

from typing import Any

from stripesim.billing import changes, invoices, subscriptions
from stripesim.billing import payment_methods as pms
from stripesim.errors import InvalidRequest
from stripesim.present import includable, list_of, paginate
from stripesim.resources._common import apply_metadata, created_filter, filter_equal, new_record
from stripesim.resources.subscriptions import PRORATION, item_changes, item_specs
from stripesim.routes import Ctx, api
from stripesim.state import Record, State
from stripesim.wire import Params


def _open_or_draft(invoice: Record, action: str, allowed: tuple[str, ...]) -> None:
    if invoice["status"] not in allowed:
        raise InvalidRequest(
            f"You can only {action} an invoice with status {' or '.join(allowed)}; this invoice is "
            f"{invoice['status']}.",
            param="invoice",
            code="invoice_not_editable" if action == "edit" else None,
        )


@api("POST", "/v1/invoices")
def create_invoice(ctx: Ctx) -> Record:
    p = ctx.params.only(
        "customer",
        "auto_advance",
        "collection_method",
        "days_until_due",
        "description",
        "metadata",
        "automatic_tax",
        "pending_invoice_items_behavior",
        "currency",
        "default_payment_method",
        "discounts",
        "subscription",
        "footer",
        "default_tax_rates",
    )
    state = ctx.state
    customer = state.get(p.str("customer", required=True) or "", "customer", "customer")
    automatic = p.sub("automatic_tax")
    invoice = invoices.new_invoice(
        state,
        customer,
        billing_reason="manual",
        currency=(p.str("currency") or "usd").lower(),
        collection_method=p.str(
            "collection_method", choices=("charge_automatically", "send_invoice"), default="charge_automatically"
        )
        or "charge_automatically",
        days_until_due=p.int("days_until_due"),
        description=p.str("description"),
        automatic_tax=bool(automatic and automatic.bool("enabled")),
        metadata=p.metadata() or {},
    )
    invoice["auto_advance"] = bool(p.bool("auto_advance", default=False))
    invoice["default_tax_rates"] = p.strings("default_tax_rates")
    if p.str("pending_invoice_items_behavior", default="exclude") == "include":
        invoices.sweep_pending_items(state, invoice, None)
    invoices.create(state, invoice, finalize_after=3600 if invoice["auto_advance"] else None)
    return invoice


@api("GET", "/v1/invoices/{invoice}")
def retrieve_invoice(ctx: Ctx, invoice: str) -> Record:
    return ctx.state.get(invoice, "invoice")


@api("POST", "/v1/invoices/{invoice}")
def update_invoice(ctx: Ctx, invoice: str) -> Record:
    p = ctx.params.only("metadata", "description", "auto_advance", "footer", "days_until_due", "collection_method")
    record = ctx.state.get(invoice, "invoice")
    with ctx.state.changing(record):
        apply_metadata(record, p)
        if p.has("description") or p.has("auto_advance") or p.has("footer"):
            if record["status"] != "draft" and (p.has("description") or p.has("footer")):
                raise InvalidRequest(
                    "Only draft invoices can be edited.", param="description", code="invoice_not_editable"
                )
            if p.has("description"):
                record["description"] = p.str("description")
            if p.has("footer"):
                record["footer"] = p.str("footer")
            if p.has("auto_advance"):
                record["auto_advance"] = bool(p.bool("auto_advance"))
    return record


@api("DELETE", "/v1/invoices/{invoice}")
def delete_invoice(ctx: Ctx, invoice: str) -> Record:
    record = ctx.state.get(invoice, "invoice")
    _open_or_draft(record, "delete", ("draft",))
    record["deleted"] = True
    ctx.state.emit("invoice.deleted", record)
    return {"id": invoice, "object": "invoice", "deleted": True}


@api("POST", "/v1/invoices/{invoice}/finalize")
def finalize_invoice(ctx: Ctx, invoice: str) -> Record:
    p = ctx.params.only("auto_advance")
    record = ctx.state.get(invoice, "invoice")
    _open_or_draft(record, "finalize", ("draft",))
    invoices.finalize(ctx.state, record)
    if p.has("auto_advance"):
        record["auto_advance"] = bool(p.bool("auto_advance"))
    if record["status"] == "open" and record["auto_advance"] and record["collection_method"] == "charge_automatically":
        invoices.attempt(ctx.state, record)
    return record


@api("POST", "/v1/invoices/{invoice}/pay")
def pay_invoice(ctx: Ctx, invoice: str) -> Record:
    p = ctx.params.only("payment_method", "off_session", "paid_out_of_band", "forgive", "source", "mandate")
    state = ctx.state
    record = state.get(invoice, "invoice")
    if record["status"] == "draft":
        invoices.finalize(state, record)
    if record["status"] == "paid":
        raise InvalidRequest("Invoice is already paid", param="invoice")
    _open_or_draft(record, "pay", ("open", "uncollectible"))
    if p.bool("paid_out_of_band"):
        return invoices.pay_out_of_band(state, record)
    pm = None
    pm_id = p.str("payment_method")
    if pm_id:
        pm = pms.resolve(state, pm_id, "payment_method")
        if not pm.get("customer"):
            pms.attach(state, pm, state.get(record["customer"], "customer"))
    invoices.attempt(state, record, pm=pm, off_session=p.bool("off_session", default=True) is not False)
    if record["status"] != "paid":
        pi = state.find(record.get("_payment_intent") or "", "payment_intent") or {}
        err = pi.get("last_payment_error") or {}
        if pi.get("status") == "requires_action":
            from stripesim.errors import CardError

            raise CardError(
                "This payment requires additional user action before it can be completed.",
                code="invoice_payment_intent_requires_action",
                param="invoice",
            )
        from stripesim.errors import CardError

        raise CardError(
            err.get("message") or "Your card was declined.",
            code=err.get("code") or "card_declined",
            decline_code=err.get("decline_code"),
        )
    return record


@api("POST", "/v1/invoices/{invoice}/void")
def void_invoice(ctx: Ctx, invoice: str) -> Record:
    ctx.params.only()
    record = ctx.state.get(invoice, "invoice")
    _open_or_draft(record, "void", ("open", "uncollectible"))
    return invoices.void(ctx.state, record)


@api("POST", "/v1/invoices/{invoice}/mark_uncollectible")
def mark_uncollectible(ctx: Ctx, invoice: str) -> Record:
    ctx.params.only()
    record = ctx.state.get(invoice, "invoice")
    _open_or_draft(record, "mark uncollectible", ("open",))
    return invoices.mark_uncollectible(ctx.state, record)


@api("GET", "/v1/invoices/{invoice}/lines")
def invoice_lines(ctx: Ctx, invoice: str) -> Record:
    p = ctx.params.only("limit", "starting_after", "ending_before")
    record = ctx.state.get(invoice, "invoice")
    return paginate(list(record["_lines"]), p, f"/v1/invoices/{invoice}/lines")


@api("GET", "/v1/invoices")
def list_invoices(ctx: Ctx) -> Record:
    p = ctx.params.only(
        "customer",
        "subscription",
        "status",
        "collection_method",
        "limit",
        "starting_after",
        "ending_before",
        "created",
        "due_date",
    )
    records = list(ctx.state.all("invoice"))
    records = filter_equal(records, p, "customer", "status", "collection_method")
    sub = p.str("subscription")
    if sub:
        records = [r for r in records if invoices.subscription_of(r) == sub]
    return paginate(created_filter(p, records), p, "/v1/invoices")


@api("POST", "/v1/invoices/create_preview")
def create_preview(ctx: Ctx) -> Record:
    p = ctx.params.only(
        "customer",
        "subscription",
        "subscription_details",
        "automatic_tax",
        "discounts",
        "currency",
        "schedule",
        "schedule_details",
        "preview_mode",
        "invoice_items",
        "customer_details",
        "on_behalf_of",
        "issuer",
    )
    state = ctx.state
    sub = None
    sub_id = p.str("subscription")
    if sub_id:
        sub = state.get(sub_id, "subscription", "subscription")
    elif p.str("schedule"):
        schedule = state.get(p.str("schedule") or "", "subscription_schedule", "schedule")
        sub = state.find(schedule.get("subscription") or "", "subscription")
        sub_id = sub["id"] if sub else None
    customer_id = p.str("customer") or (sub["customer"] if sub else None)
    if not customer_id:
        raise InvalidRequest("Missing required param: customer.", param="customer", code="parameter_missing")
    customer = state.get(customer_id, "customer", "customer")
    if sub is not None and sub["customer"] != customer["id"]:
        raise InvalidRequest("The subscription does not belong to this customer.", param="subscription")
    details = p.sub("subscription_details")
    now = state.now_for(customer)
    proration = "create_prorations"
    at = now
    anchor_now = False
    cancel_flag = None
    changes_list: list[changes.ItemChange] = []
    new_specs = None
    if details is not None:
        details.only(
            "items",
            "proration_behavior",
            "proration_date",
            "billing_cycle_anchor",
            "cancel_at_period_end",
            "cancel_at",
            "cancel_now",
            "trial_end",
            "default_tax_rates",
            "resume_at",
            "start_date",
        )
        proration = details.str("proration_behavior", choices=PRORATION, default=proration) or proration
        at = details.int("proration_date") or now
        anchor = details.raw("billing_cycle_anchor")
        anchor_now = anchor == "now" or (isinstance(anchor, dict) and anchor.get("type") == "now")
        cancel_flag = details.bool("cancel_at_period_end")
        if sub is not None:
            changes_list = item_changes(state, details)
        elif details.has("items"):
            new_specs = item_specs(state, details)
    if sub is None and new_specs is None:
        raise InvalidRequest(
            "Provide a subscription, or subscription_details[items] to preview a new one.", param="subscription"
        )
    automatic = p.sub("automatic_tax")
    previewed: list[Record] = []
    if p.has("discounts"):
        # A preview redeems nothing: the discounts exist only while the invoice is computed.
        from stripesim.billing.discounts import build_discount, resolve_discounts

        resolved = resolve_discounts(
            state, p.list_of("discounts"), customer=customer, amount_subtotal=None, product_ids=[], param="discounts"
        )
        previewed = [
            build_discount(
                state,
                spec,
                customer=customer["id"],
                subscription=sub_id,
                invoice=None,
                checkout_session=None,
                start=now,
            )
            for spec in resolved
        ]
    discount_ids = [d["id"] for d in previewed] if p.has("discounts") else None
    if sub is not None and details is not None and details.bool("cancel_now"):
        return changes.preview_cancel_now(state, customer, sub, at=at, prorate=proration != "none")
    schedule_items = _schedule_items(ctx, p, sub)
    if schedule_items is not None:
        assert sub is not None
        changes_list = [changes.ItemChange(item_id=i["id"], deleted=True) for i in subscriptions.items_of(state, sub)]
        changes_list += schedule_items
        proration = "none"
    with state.transient(previewed):
        return changes.preview(
            state,
            customer,
            sub,
            changes_list,
            proration_behavior=proration,
            at=at,
            anchor_now=anchor_now,
            cancel_at_period_end=cancel_flag,
            automatic_tax=bool(automatic.bool("enabled")) if automatic else None,
            discount_ids=discount_ids,
            new_specs=new_specs,
        )


@api("POST", "/v1/invoiceitems")
def create_invoice_item(ctx: Ctx) -> Record:
    p = ctx.params.only(
        "customer",
        "amount",
        "currency",
        "description",
        "invoice",
        "subscription",
        "metadata",
        "period",
        "pricing",
        "quantity",
        "discountable",
        "tax_rates",
        "price_data",
        "unit_amount_decimal",
    )
    state = ctx.state
    customer = state.get(p.str("customer", required=True) or "", "customer", "customer")
    invoice_id = p.str("invoice")
    invoice = state.get(invoice_id, "invoice", "invoice") if invoice_id else None
    if invoice is not None:
        _open_or_draft(invoice, "edit", ("draft",))
    amount = p.int("amount", required=True) or 0
    now = state.now_for(customer)
    sub_id = p.str("subscription")
    item = new_record(
        state,
        "invoiceitem",
        "ii",
        created=now,
        amount=amount,
        currency=(p.str("currency") or "usd").lower(),
        customer=customer["id"],
        customer_account=None,
        date=now,
        description=p.str("description"),
        discountable=p.bool("discountable", default=True),
        discounts=[],
        invoice=invoice_id,
        net_amount=amount,
        parent={
            "subscription_details": {"subscription": sub_id, "subscription_item": None},
            "type": "subscription_details",
        }
        if sub_id
        else None,
        period={"end": now, "start": now},
        pricing=None,
        proration=False,
        proration_details={"discount_amounts": []},
        quantity=p.int("quantity", default=1),
        quantity_decimal=str(p.int("quantity", default=1)),
        tax_rates=[],
        test_clock=customer.get("test_clock"),
    )
    apply_metadata(item, p)
    state.insert(item)
    state.emit("invoiceitem.created", item)
    if invoice is not None:
        invoices.add_line(
            state,
            invoice,
            amount=amount,
            description=item["description"] or "",
            price=None,
            quantity=item["quantity"],
            period_start=now,
            period_end=now,
            invoice_item=item["id"],
            discountable=bool(item["discountable"]),
        )
        with state.changing(invoice):
            invoices.compute_totals(state, invoice)
    return item


@api("GET", "/v1/invoiceitems/{item}")
def retrieve_invoice_item(ctx: Ctx, item: str) -> Record:
    return ctx.state.get(item, "invoiceitem")


@api("DELETE", "/v1/invoiceitems/{item}")
def delete_invoice_item(ctx: Ctx, item: str) -> Record:
    record = ctx.state.get(item, "invoiceitem")
    if record.get("invoice"):
        invoice = ctx.state.get(record["invoice"], "invoice")
        _open_or_draft(invoice, "edit", ("draft",))
        invoice["_lines"] = [
            line
            for line in invoice["_lines"]
            if (line["parent"].get("invoice_item_details") or {}).get("invoice_item") != item
        ]
        invoices.compute_totals(ctx.state, invoice)
    record["deleted"] = True
    ctx.state.emit("invoiceitem.deleted", record)
    return {"id": item, "object": "invoiceitem", "deleted": True}


@api("GET", "/v1/invoiceitems")
def list_invoice_items(ctx: Ctx) -> Record:
    p = ctx.params.only("customer", "invoice", "pending", "limit", "starting_after", "ending_before", "created")
    records = list(ctx.state.all("invoiceitem"))
    records = filter_equal(records, p, "customer", "invoice")
    if p.has("pending"):
        pending = p.bool("pending")
        records = [r for r in records if (r.get("invoice") is None) == pending]
    return paginate(created_filter(p, records), p, "/v1/invoiceitems")


@api("GET", "/v1/invoice_payments/{payment}")
def retrieve_invoice_payment(ctx: Ctx, payment: str) -> Record:
    return ctx.state.get(payment, "invoice_payment")


@api("GET", "/v1/invoice_payments")
def list_invoice_payments(ctx: Ctx) -> Record:
    p = ctx.params.only("invoice", "payment", "status", "limit", "starting_after", "ending_before", "created")
    records = list(ctx.state.all("invoice_payment"))
    invoice = p.str("invoice")
    if invoice:
        records = [r for r in records if r["invoice"] == invoice]
    status = p.str("status")
    if status:
        records = [r for r in records if r["status"] == status]
    payment = p.sub("payment")
    if payment is not None:
        pi = payment.str("payment_intent")
        records = [r for r in records if r["payment"].get("payment_intent") == pi]
    return paginate(records, p, "/v1/invoice_payments")


def _schedule_items(ctx: Ctx, p: Params, sub: Record | None) -> list[changes.ItemChange] | None:
    """The items of the schedule phase that covers the next renewal (`schedule` or `schedule_details`)."""
    if not p.has("schedule") and not p.has("schedule_details"):
        return None
    state = ctx.state
    if sub is None:
        schedule_id = p.str("schedule")
        schedule = state.get(schedule_id or "", "subscription_schedule", "schedule")
        sub = state.find(schedule.get("subscription") or "", "subscription")
        if sub is None:
            raise InvalidRequest("This schedule has no subscription to preview.", param="schedule")
    phases: list[dict[str, Any]]
    details = p.sub("schedule_details")
    if details is not None and details.has("phases"):
        phases = []
        for i, phase in enumerate(details.list_of("phases")):
            items: list[dict[str, Any]] = []
            for j, item in enumerate(phase.list_of("items", required=True)):
                price = state.get(
                    item.str("price", required=True) or "", "price", f"schedule_details[phases][{i}][items][{j}][price]"
                )
                items.append({"price": price["id"], "quantity": item.int("quantity", minimum=0, default=1)})
            phases.append({"start_date": phase.int("start_date"), "end_date": phase.int("end_date"), "items": items})
    else:
        schedule = state.get(p.str("schedule") or sub.get("schedule") or "", "subscription_schedule", "schedule")
        phases = schedule["phases"]
    renewal = subscriptions.period_of(sub)[1]
    covering = [
        ph for ph in phases if (ph.get("start_date") or 0) <= renewal and (ph.get("end_date") or renewal + 1) > renewal
    ]
    if not covering:
        return []
    return [
        changes.ItemChange(price=state.get(item["price"], "price"), quantity=item.get("quantity"))
        for item in covering[-1]["items"]
    ]


@includable("invoice", "payments")
def invoice_payments_included(state: State, invoice: Record) -> Record:
    payments = [p for p in state.all("invoice_payment") if p["invoice"] == invoice["id"]]
    return list_of(payments, f"/v1/invoice_payments?invoice={invoice['id']}")
