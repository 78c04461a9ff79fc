"""What the hosted Checkout page shows: the order summary beside the payment form."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from stripesim.billing import checkout
from stripesim.pages._html import (
    CARD_SCRIPT,
    CardEntry,
    bad,
    banner,
    brand,
    card_fields,
    date,
    document,
    e,
    field_error,
    interval_text,
    merchant,
    money,
)
from stripesim.state import Record, State


@dataclass
class Form:
    """The page's state for one render: typed values, errors, an applied promotion code."""

    values: dict[str, str] = field(default_factory=dict)
    card: CardEntry | None = None
    errors: dict[str, str] = field(default_factory=dict)
    message: str | None = None  # a decline or another page-level problem
    promo: Record | None = None  # a promotion code that passed the checks


def coupon_off(coupon: dict[str, Any] | None, amount: int) -> int:
    """What a coupon would take off `amount` (for showing the summary before paying)."""
    if not coupon or amount <= 0:
        return 0
    if coupon.get("percent_off") is not None:
        off = Decimal(amount) * Decimal(str(coupon["percent_off"])) / 100
        return int(off.to_integral_value(rounding=ROUND_HALF_UP))
    return min(int(coupon.get("amount_off") or 0), amount)


def _coupon_for(state: State, session: Record, form: Form) -> Record | None:
    if form.promo is not None:
        return state.find(form.promo["promotion"]["coupon"], "coupon")
    for spec in session.get("_discount_specs") or []:
        return state.find(spec.get("coupon"), "coupon")
    return None


def _line_rows(state: State, session: Record) -> tuple[str, int, dict[str, Any] | None]:
    rows, subtotal, recurring = [], 0, None
    for line in session["_line_items"]:
        price = state.get(line["price"], "price")
        product = state.find(price["product"], "product") or {}
        amount = checkout.line_amount(line, price)
        subtotal += amount
        recurring = recurring or price.get("recurring")
        per = interval_text(price.get("recurring"))
        detail = f"Qty {line['quantity']}" + (
            f", {money(price.get('unit_amount'), price['currency'])} each"
            if line["quantity"] > 1 and price.get("unit_amount") is not None
            else ""
        )
        billed = f" · Billed {_billed(price.get('recurring'))}" if per else ""
        rows.append(
            f"<tr><td><b>{e(product.get('name') or price['id'])}</b>"
            f'<div class="small muted">{e(detail)}{e(billed)}</div>'
            + (f'<div class="small muted">{e(product["description"])}</div>' if product.get("description") else "")
            + f'</td><td class="num">{e(money(amount, price["currency"]))}'
            + (f'<div class="small muted">{e(per)}</div>' if per else "")
            + "</td></tr>"
        )
    return "".join(rows), subtotal, recurring


def _billed(recurring: dict[str, Any] | None) -> str:
    count = int((recurring or {}).get("interval_count") or 1)
    unit = str((recurring or {}).get("interval") or "month")
    if count == 1:
        return {"day": "daily", "week": "weekly", "month": "monthly", "year": "yearly"}.get(unit, unit)
    return f"every {count} {unit}s"


def summary(state: State, session: Record, form: Form) -> str:
    currency = session["currency"]
    rows, subtotal, recurring = _line_rows(state, session)
    coupon = _coupon_for(state, session, form)
    discount = coupon_off(coupon, subtotal)
    tax_on = session["automatic_tax"]["enabled"]
    pct = state.config.automatic_tax_percent
    tax = round((subtotal - discount) * pct / 100) if tax_on else 0
    recurring_total = subtotal - discount + tax
    trial = session["mode"] == "subscription" and bool(session.get("_trial"))
    due_today = 0 if trial else recurring_total
    per = interval_text(recurring)
    head_name = _headline(state, session)
    trial_end = (session.get("_subscription_data") or {}).get("trial_end")
    if trial:
        days = max(1, round((trial_end - session["created"]) / 86400)) if trial_end else 0
        headline = (
            f'<div class="muted">Try {e(head_name)}</div><div class="amount">{days} days free</div>'
            f'<div class="muted small">Then {e(money(recurring_total, currency))} {e(per)} starting '
            f"{e(date(trial_end))}</div>"
        )
    elif session["mode"] == "subscription":
        headline = (
            f'<div class="muted">Subscribe to {e(head_name)}</div>'
            f'<div class="amount">{e(money(subtotal, currency))} '
            f'<span class="small muted">{e(per)}</span></div>'
        )
    elif session["mode"] == "setup":
        headline = '<div class="muted">Save a card for future payments</div><div class="amount">Set up</div>'
    else:
        headline = (
            f'<div class="muted">Pay {e(head_name)}</div><div class="amount">{e(money(due_today, currency))}</div>'
        )
    totals = [f'<tr class="sub"><td>Subtotal</td><td class="num">{e(money(subtotal, currency))}</td></tr>']
    if discount:
        label = (form.promo or {}).get("code") or (coupon or {}).get("name") or (coupon or {}).get("id")
        totals.append(
            f'<tr class="sub"><td>Discount <span class="badge green">{e(label)}</span></td>'
            f'<td class="num">{e(money(-discount, currency))}</td></tr>'
        )
    if tax_on:
        totals.append(
            f'<tr class="sub"><td>Tax ({e(f"{pct:g}")}%)</td><td class="num">{e(money(tax, currency))}</td></tr>'
        )
    if trial:
        totals.append(
            f'<tr class="sub"><td>Total after trial</td><td class="num">{e(money(recurring_total, currency))}</td></tr>'
        )
    if session["mode"] != "setup":
        totals.append(
            f'<tr class="total"><td>Total due today</td>'
            f'<td class="num" id="total-due">{e(money(due_today, currency))}</td></tr>'
        )
    trial_note = (
        f'<p class="small muted">Your free trial ends on {e(date(trial_end))}. You won\'t be '
        f"charged until then; afterwards {e(money(recurring_total, currency))} {e(per)}.</p>"
        if trial
        else ""
    )
    back = (
        f'<a class="back" id="cancel-link" href="{e(session["cancel_url"])}">← Back</a>'
        if session.get("cancel_url")
        else ""
    )
    return (
        f'<div class="summary">{back}{brand(merchant(state).name)}{headline}'
        f'<table class="lines">{rows}{"".join(totals)}</table>{_promo_field(session, form)}{trial_note}</div>'
    )


def _headline(state: State, session: Record) -> str:
    first = session["_line_items"][0] if session["_line_items"] else None
    if first is None:
        return merchant(state).name
    price = state.get(first["price"], "price")
    product = state.find(price["product"], "product") or {}
    return str(product.get("name") or merchant(state).name)


def _promo_field(session: Record, form: Form) -> str:
    if not session.get("allow_promotion_codes"):
        return ""
    value = form.values.get("promotion_code", "")
    applied = (
        (f'<div class="small" style="color:#0e6245;margin-top:6px">Code <b>{e(form.promo["code"])}</b> applied.</div>')
        if form.promo
        else ""
    )
    return (
        '<label for="promotion_code">Promotion code</label><div class="inline">'
        f'<input type="text" form="pay-form" class="{bad(form.errors, "promotion_code").strip()}" '
        f'id="promotion_code" name="promotion_code" value="{e(value)}" placeholder="Add promotion code">'
        '<button type="submit" form="pay-form" class="secondary" id="apply-promo" name="action" '
        'value="apply" formnovalidate>Apply</button></div>'
        f"{field_error(form.errors, 'promotion_code')}{applied}"
    )


def _submit_label(session: Record, state: State) -> str:
    if session["mode"] == "setup":
        return "Save card"
    if session["mode"] == "subscription":
        return "Start trial" if session.get("_trial") else "Subscribe"
    return {"donate": "Donate", "book": "Book"}.get(session.get("submit_type") or "", "Pay")


def payment_form(state: State, session: Record, form: Form, action: str) -> str:
    customer = state.find(session.get("customer"), "customer")
    known = session.get("customer_email") or (customer or {}).get("email")
    email = known or form.values.get("email") or ""
    # An email the merchant already knows (customer_email, or the customer's) is shown, not edited.
    locked = bool(known)
    readonly = " readonly" if locked else ""
    tax_id = ""
    if session["tax_id_collection"]["enabled"]:
        tax_id = (
            '<label for="tax_id">Tax ID <span class="muted">(optional, e.g. EU VAT)</span></label>'
            f'<input type="text" id="tax_id" name="tax_id" class="{bad(form.errors, "tax_id").strip()}" '
            f'value="{e(form.values.get("tax_id"))}" placeholder="DE123456789">{field_error(form.errors, "tax_id")}'
        )
    heading = "Card details" if session["mode"] == "setup" else "Pay with card"
    terms = ""
    if (session.get("consent_collection") or {}).get("terms_of_service") == "required":
        message = ((session.get("custom_text") or {}).get("terms_of_service_acceptance") or {}).get("message")
        checked = " checked" if form.values.get("terms") else ""
        terms = (
            f'<p class="terms"><input type="checkbox" id="terms" name="terms" value="accepted"{checked} required>'
            f' <label for="terms">I agree to the Terms of Service</label></p>'
            + (f'<p class="muted terms-text">{e(message)}</p>' if message else "")
            + field_error(form.errors, "terms_of_service")
        )
    return (
        f'<div class="card"><h2>{heading}</h2>{banner(form.message)}'
        f'<form method="post" action="{e(action)}" id="pay-form" novalidate>'
        f'<label for="email">Email</label><input type="email" id="email" name="email" autocomplete="email" '
        f'class="{bad(form.errors, "email").strip()}" value="{e(email)}"{readonly} required>'
        f"{field_error(form.errors, 'email')}"
        f"{card_fields(form.card, form.errors)}{tax_id}{terms}"
        f'<button type="submit" class="wide" id="submit" name="action" value="pay">'
        f"{e(_submit_label(session, state))}</button></form></div>"
    )


PROMO_SCRIPT = """
var promo=document.getElementById('promotion_code');
if(promo){promo.addEventListener('keydown',function(ev){if(ev.key==='Enter'){ev.preventDefault();
document.getElementById('apply-promo').click();}});}
"""


def render(state: State, session: Record, form: Form, *, action: str) -> str:
    body = (
        '<div class="grid">'
        f'<div style="order:2">{payment_form(state, session, form, action)}</div>'
        f'<div style="order:1">{summary(state, session, form)}</div>'
        "</div>"
    )
    return document(f"Checkout · {merchant(state).name}", body, script=CARD_SCRIPT + PROMO_SCRIPT)
