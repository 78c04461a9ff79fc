"""The hosted invoice page (`invoice.hosted_invoice_url`), its printable copy and paying it."""

from __future__ import annotations

from stripesim.billing import invoices
from stripesim.billing import payment_methods as pms
from stripesim.errors import StripeError
from stripesim.pages._html import (
    CARD_SCRIPT,
    CardEntry,
    Merchant,
    banner,
    brand,
    card_fields,
    date,
    document,
    e,
    merchant,
    money,
    not_found,
    read_card,
    row,
)
from stripesim.routes import Ctx, Response, page
from stripesim.state import Record, State

BADGES = {
    "open": ("Open", "blue"),
    "paid": ("Paid", "green"),
    "void": ("Void", ""),
    "uncollectible": ("Uncollectible", "red"),
    "draft": ("Draft", ""),
}


def _invoice(ctx: Ctx, invoice_id: str) -> Record | None:
    invoice = ctx.state.find(invoice_id, "invoice")
    # Drafts have no hosted page until they are finalized, as on Stripe.
    if invoice is None or invoice.get("deleted") or not invoice.get("hosted_invoice_url"):
        return None
    return invoice


def badge(status: str) -> str:
    label, color = BADGES.get(status, (status.title(), ""))
    return f'<span class="badge {color}">{e(label)}</span>'


def receipt_url(state: State, invoice: Record) -> str | None:
    pi = state.find(invoice.get("_payment_intent"), "payment_intent")
    charge = state.find((pi or {}).get("latest_charge"), "charge")
    return (charge or {}).get("receipt_url") if charge and charge.get("paid") else None


def lines_table(state: State, invoice: Record) -> str:
    cur = invoice["currency"]
    rows = []
    for line in invoice.get("_lines", []):
        period = line.get("period") or {}
        when = (
            f"{date(period.get('start'))} – {date(period.get('end'))}"
            if period.get("start") != period.get("end")
            else ""
        )
        qty = f"Qty {line['quantity']}" if line.get("quantity") else ""
        detail = " · ".join(x for x in (qty, when) if x)
        label = f'{e(line["description"])}<div class="small muted">{e(detail)}</div>'
        rows.append(row(label, money(line["amount"], cur), raw_label=True))
    rows.append(row("Subtotal", money(invoice["subtotal"], cur), cls="sub"))
    for d in invoice.get("total_discount_amounts") or []:
        discount = state.find(d["discount"], "discount") or {}
        coupon = state.find((discount.get("source") or {}).get("coupon") or "", "coupon") or {}
        label = coupon.get("name") or coupon.get("id") or "Discount"
        rows.append(row(f"Discount ({label})", money(-d["amount"], cur), cls="sub"))
    for t in invoice.get("total_taxes") or []:
        rate = state.find((t.get("tax_rate_details") or {}).get("tax_rate") or "", "tax_rate") or {}
        name = f"{rate.get('display_name') or 'Tax'} ({rate.get('percentage', 0):g}%"
        name += ", included)" if t.get("tax_behavior") == "inclusive" else ")"
        rows.append(row(name, money(t["amount"], cur), cls="sub"))
    rows.append(row("Total", money(invoice["total"], cur), cls="total"))
    applied = applied_balance(invoice)
    if applied:
        rows.append(row("Applied balance", money(applied, cur), cls="sub", value_id="applied-balance"))
    rows.append(row("Amount due", money(invoice["amount_due"], cur), cls="total", value_id="amount-due"))
    if invoice.get("amount_paid"):
        rows.append(row("Amount paid", money(invoice["amount_paid"], cur), cls="sub", value_id="amount-paid"))
    return f'<table class="lines">{"".join(rows)}</table>'


def applied_balance(invoice: Record) -> int:
    """What the customer's balance added to the total: a credit used (negative) or a debt carried
    over, and a negative total turned into credit (positive), so that total + applied = amount due.
    `amount_paid` is money received, never a deduction: it is shown as it is, positive."""
    return int(invoice.get("starting_balance") or 0) - int(invoice.get("ending_balance") or 0)


def support(seller: Merchant) -> str:
    """The merchant's contact line at the foot of the page, from its public details."""
    ways = []
    if seller.support_email:
        link = f'<a href="mailto:{e(seller.support_email)}">{e(seller.support_email)}</a>'
        ways.append(f"contact {e(seller.name)} at {link}")
    if seller.support_phone:
        ways.append(f"call {e(seller.support_phone)}")
    if seller.support_url:
        ways.append(f'visit <a href="{e(seller.support_url)}" id="support-link">{e(seller.support_url)}</a>')
    if not ways:
        return ""
    text = " or ".join(ways)
    return f'<p class="small muted" id="support">Questions? {text[:1].upper()}{text[1:]}.</p>'


def _pay_form(invoice: Record, card: CardEntry | None, errors: dict[str, str]) -> str:
    email = (card.raw.get("email") if card else None) or invoice.get("customer_email") or ""
    due = money(invoice["amount_remaining"], invoice["currency"])
    return (
        f'<div class="card"><h2>Pay this invoice</h2>'
        f'<form method="post" action="/invoices/{e(invoice["id"])}" id="pay-form" novalidate>'
        f'<label for="email">Email</label><input type="email" id="email" name="email" value="{e(email)}">'
        f"{card_fields(card, errors)}"
        f'<button type="submit" class="wide" id="submit">Pay {e(due)}</button></form></div>'
    )


def _waiting_for_authentication(state: State, invoice: Record) -> str:
    """A payment that waits for 3D Secure can be confirmed from here (the SCA email's link)."""
    pi = state.find(invoice.get("_payment_intent"), "payment_intent")
    if pi is None or pi["status"] != "requires_action":
        return ""
    return (
        f'<div class="banner info">Your bank needs you to confirm this payment. '
        f'<a href="/authenticate/{e(pi["id"])}" id="confirm-payment">Confirm payment</a> '
        "or pay with another card below.</div>"
    )


def billed_to(invoice: Record) -> str:
    return f"{invoice.get('customer_name') or ''} {invoice.get('customer_email') or invoice['customer']}".strip()


def issued(invoice: Record) -> str:
    return date(invoice["status_transitions"].get("finalized_at") or invoice["created"])


def render(
    state: State,
    invoice: Record,
    *,
    card: CardEntry | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
) -> str:
    errors = errors or {}
    cur = invoice["currency"]
    status = invoice["status"]
    if status == "paid":
        paid_at = invoice["status_transitions"].get("paid_at")
        head = f'<div class="muted">Invoice paid</div><div class="amount">{e(money(invoice["amount_paid"], cur))}</div>'
        note = banner(f"Paid on {date(paid_at)}. Thank you!", "ok")
    elif status == "open":
        due = f"Due {date(invoice['due_date'])}" if invoice.get("due_date") else "Due upon receipt"
        head = (
            '<div class="muted">Invoice due</div>'
            f'<div class="amount">{e(money(invoice["amount_remaining"], cur))}</div>'
            f'<div class="small muted">{e(due)}</div>'
        )
        note = ""
    else:
        head = f'<div class="muted">Invoice</div><div class="amount">{e(money(invoice["total"], cur))}</div>'
        note = banner(f"This invoice is {status} and cannot be paid.", "info")
    receipt = receipt_url(state, invoice)
    links = [f'<a href="/invoices/{e(invoice["id"])}/pdf" id="download-invoice">Download invoice</a>']
    if receipt:
        links.append(f'<a href="{e(receipt)}" id="download-receipt">Download receipt</a>')
    details = (
        '<table class="lines">'
        + row("Invoice number", invoice["number"])
        + row("Status", badge(status), raw_value=True)
        + row("Billed to", billed_to(invoice))
        + row("Date", issued(invoice))
        + "</table>"
    )
    seller = merchant(state)
    left = (
        f'{brand(seller.name, href=seller.url)}<div class="card">{head}{note}{details}'
        f'<div class="actions">{" · ".join(links)}</div></div>'
        f'<div class="card"><h2>Invoice {e(invoice["number"])}</h2>{lines_table(state, invoice)}</div>'
        f"{support(seller)}"
    )
    right = ""
    if status == "open" and invoice["amount_remaining"] > 0:
        right = banner(message) + _waiting_for_authentication(state, invoice) + _pay_form(invoice, card, errors)
    body = f'<div class="grid"><div>{left}</div><div>{right}</div></div>'
    return document(f"Invoice {invoice['number']} · {seller.name}", body, script=CARD_SCRIPT)


@page("GET", "/invoices/{invoice_id}")
def invoice_page(ctx: Ctx, invoice_id: str) -> Response:
    invoice = _invoice(ctx, invoice_id)
    if invoice is None:
        return not_found("invoice")
    return Response.html(render(ctx.state, invoice))


@page("POST", "/invoices/{invoice_id}")
def pay_invoice(ctx: Ctx, invoice_id: str) -> Response:
    """Pay an open invoice on-session with the card typed on the page."""
    state = ctx.state
    invoice = _invoice(ctx, invoice_id)
    if invoice is None:
        return not_found("invoice")
    if invoice["status"] != "open":
        return Response.redirect(f"/invoices/{invoice_id}")
    card = read_card(ctx.params.data)
    card.raw["email"] = str(ctx.params.data.get("email") or "").strip()
    if card.errors:
        return Response.html(render(state, invoice, card=card, errors=card.errors), status=400)
    customer = state.get(invoice["customer"], "customer")
    try:
        pm = pms.create_card(
            state,
            card.number,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            billing_email=card.raw["email"] or None,
            billing_name=card.name or None,
        )
        pms.attach(state, pm, customer)
        invoices.attempt(state, invoice, pm=pm, off_session=False)
    except StripeError as err:
        errors = {"card_number": err.message} if err.param and "card" in err.param else {}
        return Response.html(
            render(state, invoice, card=card, errors=errors, message=None if errors else err.message), status=err.status
        )
    if invoice["status"] == "paid":
        return Response.redirect(f"/invoices/{invoice_id}")
    pi = state.find(invoice.get("_payment_intent"), "payment_intent") or {}
    if pi.get("status") == "requires_action":
        return Response.redirect(f"/authenticate/{pi['id']}")
    error = (pi.get("last_payment_error") or {}).get("message") or "Your card was declined."
    return Response.html(render(state, invoice, card=card, message=error), status=402)


@page("GET", "/invoices/{invoice_id}/pdf")
def invoice_pdf(ctx: Ctx, invoice_id: str) -> Response:
    """A printable copy. stripesim serves HTML here, not a PDF, and says so on the page."""
    invoice = _invoice(ctx, invoice_id)
    if invoice is None:
        return not_found("invoice")
    note = (
        '<div class="banner info noprint">stripesim serves this invoice as printable HTML, not as a PDF '
        "file: use your browser's Print → Save as PDF to keep a copy.</div>"
    )
    due = f" · Due: {date(invoice['due_date'])}" if invoice.get("due_date") else ""
    body = (
        f'{note}<div class="card">{brand(merchant(ctx.state).name)}<h1>Invoice {e(invoice["number"])}</h1>'
        f'<p class="muted">Status: {badge(invoice["status"])} · Date of issue: {e(issued(invoice))}{e(due)}</p>'
        f"<p>Billed to: {e(billed_to(invoice))}</p>{lines_table(ctx.state, invoice)}</div>"
        "<style>@media print{.noprint,.footer{display:none}body{background:#fff}.card{box-shadow:none}}</style>"
    )
    return Response.html(document(f"Invoice {invoice['number']} (printable)", body))
