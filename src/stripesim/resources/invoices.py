"""Invoices: /v1/invoices."""

from __future__ import annotations

from stripesim.billing import invoices, payments
from stripesim.billing import payment_methods as pms
from stripesim.billing.invoice_drafts import new_invoice, subscription_of, sweep_pending_items
from stripesim.errors import CardError, InvalidRequest
from stripesim.present import list_page, paginate
from stripesim.resources._common import apply_metadata, created_match, equal_match, every
from stripesim.routes import Ctx, api
from stripesim.state import Record


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
    invoice = new_invoice(
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
        sweep_pending_items(state, invoice, None)
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
    invoices.require_status(record, "delete", ("draft",))
    record["deleted"] = True
    ctx.state.emit("invoice.deleted", record)
    return {"id": invoice, "object": "invoice", "deleted": True}


@api("POST", "/v1/invoices/{invoice}/finalize")
def finalize_invoice(ctx: Ctx, invoice: str) -> Record:
    p = ctx.params.only("auto_advance")
    record = ctx.state.get(invoice, "invoice")
    invoices.require_status(record, "finalize", ("draft",))
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
    invoices.require_status(record, "pay", ("open", "uncollectible"))
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
        pi = state.find(record.get("_payment_intent"), "payment_intent")
        if pi is not None and pi["status"] == "requires_action":
            raise CardError(
                "This payment requires additional user action before it can be completed.",
                code="invoice_payment_intent_requires_action",
                param="invoice",
            )
        if pi is not None:
            raise payments.card_error(state, pi, with_intent=False)
        raise CardError("Your card was declined.", code="card_declined")
    return record


@api("POST", "/v1/invoices/{invoice}/void")
def void_invoice(ctx: Ctx, invoice: str) -> Record:
    ctx.params.only()
    record = ctx.state.get(invoice, "invoice")
    invoices.require_status(record, "void", ("open", "uncollectible"))
    return invoices.void(ctx.state, record)


@api("POST", "/v1/invoices/{invoice}/mark_uncollectible")
def mark_uncollectible(ctx: Ctx, invoice: str) -> Record:
    ctx.params.only()
    record = ctx.state.get(invoice, "invoice")
    invoices.require_status(record, "mark uncollectible", ("open",))
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
    equal = equal_match(p, "customer", "status", "collection_method")
    sub = p.str("subscription")
    keep = every(
        equal,
        (lambda r: subscription_of(r) == sub) if sub else None,
        created_match(p),
    )
    return list_page(ctx.state, "invoice", p, "/v1/invoices", keep)
