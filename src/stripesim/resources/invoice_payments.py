"""Invoice payments: /v1/invoice_payments, and `invoice.payments` when expanded."""

from __future__ import annotations

from stripesim.present import includable, list_of, paginate
from stripesim.routes import Ctx, api
from stripesim.state import Record, State


@api("GET", "/v1/invoice_payments/{payment}")
def retrieve_invoice_payment(ctx: Ctx, payment: str) -> Record:
    return ctx.state.get(payment, "invoice_payment")


@api("GET", "/v1/invoice_payments")
def list_invoice_payments(ctx: Ctx) -> Record:
    p = ctx.params.only("invoice", "payment", "status", "limit", "starting_after", "ending_before", "created")
    invoice = p.str("invoice")
    if invoice:
        records = ctx.state.having("invoice_payment", "invoice", invoice)
    else:
        records = list(ctx.state.all("invoice_payment"))
    status = p.str("status")
    if status:
        records = [r for r in records if r["status"] == status]
    payment = p.sub("payment")
    if payment is not None:
        pi = payment.str("payment_intent")
        records = [r for r in records if r["payment"].get("payment_intent") == pi]
    return paginate(records, p, "/v1/invoice_payments")


@includable("invoice", "payments")
def invoice_payments_included(state: State, invoice: Record) -> Record:
    payments = state.having("invoice_payment", "invoice", invoice["id"])
    return list_of(payments, f"/v1/invoice_payments?invoice={invoice['id']}")
