"""The receipt page at a charge's `receipt_url` (`/receipts/{charge}`)."""

from __future__ import annotations

from stripesim.billing.invoices import invoice_collected_by
from stripesim.pages._html import brand, date, document, e, merchant, money, not_found, row
from stripesim.routes import Ctx, Response, page


@page("GET", "/receipts/{charge_id}")
def receipt(ctx: Ctx, charge_id: str) -> Response:
    state = ctx.state
    charge = state.find(charge_id, "charge")
    if charge is None or not charge.get("paid"):
        return not_found("receipt")
    cur = charge["currency"]
    card = (charge.get("payment_method_details") or {}).get("card") or {}
    pi = state.find(charge.get("payment_intent"), "payment_intent") or {}
    invoice = invoice_collected_by(state, pi)
    brand_name = str(card.get("brand") or "card").title()
    rows = [
        row("Amount paid", money(charge["amount"], cur)),
        row("Date paid", date(charge["created"])),
        row("Payment method", f"{brand_name} •••• {card.get('last4')}"),
        row("Receipt", "#" + (charge.get("receipt_number") or charge["id"][-8:].upper())),
    ]
    if invoice is not None:
        link = f'<a href="/invoices/{e(invoice["id"])}">{e(invoice["number"])}</a>'
        rows.append(row("Invoice", link, raw_value=True))
    if charge.get("description"):
        rows.append(row("Description", charge["description"]))
    if charge.get("amount_refunded"):
        rows.append(row("Refunded", money(-charge["amount_refunded"], cur)))
    seller = merchant(state).name
    body = (
        f'{brand(seller)}<div class="card"><div class="muted">Receipt from {e(seller)}</div>'
        f'<div class="amount">{e(money(charge["amount"], cur))}</div>'
        f'<table class="lines">{"".join(rows)}</table></div>'
    )
    return Response.html(document(f"Receipt · {seller}", body, narrow=True))
