"""Invoice items: /v1/invoiceitems, charges and credits waiting for an invoice (or on a draft)."""

from __future__ import annotations

from stripesim.billing import invoices
from stripesim.billing.invoice_drafts import add_line, invoice_item
from stripesim.billing.invoice_totals import compute_totals
from stripesim.present import list_page
from stripesim.resources._common import apply_metadata, created_match, equal_match, every
from stripesim.routes import Ctx, api
from stripesim.state import Record


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
        invoices.require_status(invoice, "edit", ("draft",))
    amount = p.int("amount", required=True) or 0
    now = state.now_for(customer)
    sub_id = p.str("subscription")
    item = invoice_item(
        at=now,
        amount=amount,
        currency=(p.str("currency") or "usd").lower(),
        customer=customer["id"],
        description=p.str("description"),
        discountable=bool(p.bool("discountable", default=True)),
        invoice=invoice_id,
        subscription=sub_id,
        period=(now, now),
        quantity=p.int("quantity", default=1) or 0,
        test_clock=customer.get("test_clock"),
    )
    apply_metadata(item, p)
    state.insert(item)
    state.emit("invoiceitem.created", item)
    if invoice is not None:
        add_line(
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
            compute_totals(state, invoice)
    return item


@api("GET", "/v1/invoiceitems/{item}")
def retrieve_invoice_item(ctx: Ctx, item: str) -> Record:
    return ctx.state.get(item, "invoiceitem")


@api("DELETE", "/v1/invoiceitems/{item}")
def delete_invoice_item(ctx: Ctx, item: str) -> Record:
    record = ctx.state.get(item, "invoiceitem")
    if record.get("invoice"):
        invoice = ctx.state.get(record["invoice"], "invoice")
        invoices.require_status(invoice, "edit", ("draft",))
        invoice["_lines"] = [
            line
            for line in invoice["_lines"]
            if (line["parent"].get("invoice_item_details") or {}).get("invoice_item") != item
        ]
        compute_totals(ctx.state, invoice)
    record["deleted"] = True
    ctx.state.emit("invoiceitem.deleted", record)
    return {"id": item, "object": "invoiceitem", "deleted": True}


@api("GET", "/v1/invoiceitems")
def list_invoice_items(ctx: Ctx) -> Record:
    p = ctx.params.only("customer", "invoice", "pending", "limit", "starting_after", "ending_before", "created")
    equal = equal_match(p, "customer", "invoice")
    pending = p.bool("pending") if p.has("pending") else None
    keep = every(
        equal,
        None if not p.has("pending") else lambda r: (r.get("invoice") is None) == pending,
        created_match(p),
    )
    return list_page(ctx.state, "invoiceitem", p, "/v1/invoiceitems", keep)
