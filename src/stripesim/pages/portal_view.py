"""What the customer portal shows: the homepage and the pages of each action."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from stripesim.billing import portal as rules
from stripesim.billing.portal_config import REASON_LABELS
from stripesim.billing.pricing import amount_for
from stripesim.billing.subscriptions import items_of, period_of
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
    row,
)
from stripesim.pages.invoice import applied_balance
from stripesim.state import Record, State

DONE = {
    "updated": "Your plan has been updated.",
    "scheduled": "Your plan will change at the end of the current billing period.",
    "payment_failed": "Your payment didn't go through, so your plan hasn't changed yet. Pay the open invoice "
    "below to apply the change.",
    "unchanged": "Nothing changed.",
    "canceled": "Your subscription has been canceled.",
    "cancel_scheduled": "Your subscription will be canceled at the end of the billing period.",
    "renewed": "Your subscription has been renewed.",
    "kept": "The scheduled change has been canceled; you'll stay on your current plan.",
    "card": "Your payment method has been updated.",
    "customer": "Your billing information has been updated.",
    "offer": "The offer has been applied to your subscription.",
}
STATUS = {
    "active": ("Active", "green"),
    "trialing": ("Trial", "blue"),
    "past_due": ("Past due", "red"),
    "unpaid": ("Unpaid", "red"),
    "incomplete": ("Incomplete", "orange"),
    "paused": ("Paused", ""),
    "canceled": ("Canceled", ""),
}


def _is_proration(line: Record) -> bool:
    parent = line.get("parent") or {}
    return bool((parent.get(parent.get("type") or "") or {}).get("proration"))


class View:
    """One portal session's context for rendering."""

    def __init__(self, state: State, session: Record, config: Record, customer: Record) -> None:
        self.state, self.session, self.config, self.customer = state, session, config, customer
        self.base = f"/p/session/{session['id']}"

    @property
    def in_flow(self) -> bool:
        return bool(self.session.get("flow")) and not self.session.get("_flow_done")

    def return_link(self) -> str:
        url = self.session.get("return_url")
        if not url:
            return ""
        host = urlsplit(url).netloc or url
        return f'<a class="back" id="return-link" href="{e(url)}">← Return to {e(host)}</a>'

    def frame(self, title: str, main: str) -> str:
        profile = self.config["business_profile"]
        links = [
            f'<a href="{e(profile[k])}">{label}</a>'
            for k, label in (("terms_of_service_url", "Terms"), ("privacy_policy_url", "Privacy"))
            if profile.get(k)
        ]
        headline = f'<p class="muted">{e(profile["headline"])}</p>' if profile.get("headline") else ""
        side = (
            f"{self.return_link()}{brand(merchant(self.state).name)}{headline}"
            f'<p class="small muted">Signed in as {e(self.customer.get("email") or self.customer["id"])}</p>'
            f'<p class="small">{" · ".join(links)}</p>'
        )
        body = (
            f'<div class="grid" style="grid-template-columns:minmax(0,1fr) minmax(0,2fr)"><div>{side}</div>'
            f"<div>{main}</div></div>"
        )
        return document(f"{title} · Billing portal", body, script=CARD_SCRIPT)

    def back(self) -> str:
        return "" if self.in_flow else f'<a class="back" href="{e(self.base)}">← Back</a>'

    def home(self, done: str | None, error: str | None = None) -> str:
        parts = [banner(DONE.get(done or ""), "ok"), banner(error)]
        subs = rules.live_subscriptions(self.state, self.customer)
        parts.append('<div class="card"><h2>Current subscription' + ("s" if len(subs) > 1 else "") + "</h2>")
        parts.append("".join(self.subscription(s) for s in subs) or '<p class="muted">You have no subscriptions.</p>')
        parts.append("</div>")
        parts.append(self.payment_method())
        parts.append(self.billing_info())
        parts.append(self.invoices())
        return self.frame("Billing", "".join(parts))

    def _price_text(self, price: Record, quantity: int | None) -> str:
        """What the item costs for its quantity (`Pro x 2 · $20.00 per month`, with `($10.00 each)`
        when there are several)."""
        product = self.state.find(price["product"], "product") or {}
        name = product.get("name") or price["id"]
        per = interval_text(price.get("recurring"))
        if not quantity or quantity == 1:
            return f"{name} · {money(amount_for(price, 1), price['currency'])} {per}"
        each = price.get("unit_amount") if price.get("billing_scheme") != "tiered" else None
        unit = f" ({money(each, price['currency'])} each)" if each is not None else ""
        return f"{name} × {quantity} · {money(amount_for(price, quantity), price['currency'])} {per}{unit}"

    def subscription(self, sub: Record) -> str:
        state = self.state
        lines = "".join(
            f"<div><b>{e(self._price_text(state.get(i['price'], 'price'), i['quantity']))}</b></div>"
            for i in items_of(state, sub)
        )
        label, color = STATUS.get(sub["status"], (sub["status"], ""))
        notes = [f'<span class="badge {color}">{e(label)}</span>']
        _, end = period_of(sub)
        if sub["cancel_at_period_end"] or sub.get("cancel_at"):
            notes.append(f'<span class="badge orange">Cancels {e(date(sub.get("cancel_at") or end))}</span>')
        elif sub["status"] == "trialing":
            notes.append(f'<span class="muted">Trial ends {e(date(sub.get("trial_end")))}</span>')
        else:
            notes.append(f'<span class="muted">Renews {e(date(end))}</span>')
        extra = ""
        change = rules.scheduled_change(state, sub)
        if change is not None:
            item = change["items"][0]
            text = self._price_text(state.get(item["price"], "price"), item.get("quantity"))
            extra += (
                f'<p class="small" id="scheduled-change">Changes to <b>{e(text)}</b> on '
                f"{e(date(change['start_date']))}.</p>"
            )
        if sub.get("pending_update"):
            invoice = state.find(sub.get("latest_invoice"), "invoice") or {}
            link = f' <a href="/invoices/{e(invoice.get("id"))}">Pay the invoice</a>' if invoice else ""
            extra += f'<p class="small">A plan change is waiting for payment.{link}</p>'
        actions = []
        path = f"{self.base}/subscriptions/{sub['id']}"
        if rules.can_update(state, self.config, sub):
            actions.append(f'<a class="button" id="update-plan" href="{e(path)}/update">Update plan</a>')
        if rules.can_cancel(self.config, sub):
            actions.append(f'<a class="button secondary" id="cancel-plan" href="{e(path)}/cancel">Cancel plan</a>')
        if sub["cancel_at_period_end"] or sub.get("cancel_at"):
            actions.append(
                f'<form method="post" action="{e(path)}/renew"><button type="submit" '
                'id="renew-plan">Renew plan</button></form>'
            )
        if change is not None:
            actions.append(
                f'<form method="post" action="{e(path)}/keep"><button type="submit" '
                'class="secondary" id="keep-plan">Keep current plan</button></form>'
            )
        return (
            f'<div class="rowline" style="display:block" data-subscription="{e(sub["id"])}">{lines}'
            f'<div class="actions" style="margin-top:6px">{" ".join(notes)}</div>{extra}'
            f'<div class="actions">{"".join(actions)}</div></div>'
        )

    def payment_method(self) -> str:
        feature = self.config["features"]["payment_method_update"]["enabled"]
        pm, is_default = rules.card_on_file(self.state, self.customer)
        if pm is None and not feature:
            return ""
        if pm is not None:
            card = pm["card"]
            badge = '<span class="badge">Default</span>' if is_default else ""
            shown = (
                f'<div id="default-card"><b>{e(card["brand"].title())} •••• {e(card["last4"])}</b> '
                f'<span class="muted small">Expires {e(card["exp_month"]):0>2}/{e(card["exp_year"])}</span> '
                f"{badge}</div>"
            )
        else:
            shown = '<p class="muted">No payment method on file.</p>'
        action = ""
        if feature:
            label = "Update payment method" if pm is not None else "Add payment method"
            action = (
                f'<div class="actions"><a class="button secondary" id="update-card" '
                f'href="{e(self.base)}/payment-method">{label}</a></div>'
            )
        return f'<div class="card"><h2>Payment method</h2>{shown}{action}</div>'

    def billing_info(self) -> str:
        if not self.config["features"]["customer_update"]["enabled"]:
            return ""
        c = self.customer
        action = ""
        if rules.editable_fields(self.config):
            action = (
                f'<div class="actions"><a class="button secondary" id="update-customer" '
                f'href="{e(self.base)}/customer">Update information</a></div>'
            )
        return (
            f'<div class="card"><h2>Billing information</h2>'
            f'<div class="rowline"><span class="muted">Name</span><span id="customer-name">'
            f"{e(c.get('name') or '—')}</span></div>"
            f'<div class="rowline"><span class="muted">Email</span><span id="customer-email">'
            f"{e(c.get('email') or '—')}</span></div>{action}</div>"
        )

    def invoices(self) -> str:
        if not self.config["features"]["invoice_history"]["enabled"]:
            return ""
        found = [
            i
            for i in self.state.where("invoice", customer=self.customer["id"])
            if i["status"] != "draft" and i.get("hosted_invoice_url")
        ][:24]
        rows = []
        for inv in found:
            label, color = {
                "paid": ("Paid", "green"),
                "open": ("Open", "blue"),
                "void": ("Void", ""),
                "uncollectible": ("Uncollectible", "red"),
            }.get(inv["status"], (inv["status"], ""))
            when = inv["status_transitions"].get("finalized_at") or inv["created"]
            verb = "Pay" if inv["status"] == "open" else "View"
            rows.append(
                f'<div class="rowline" data-invoice="{e(inv["id"])}"><span>{e(date(when))}</span>'
                f"<span>{e(money(inv['total'], inv['currency']))}</span>"
                f'<span class="badge {color}">{e(label)}</span>'
                f'<a href="/invoices/{e(inv["id"])}">{verb}</a></div>'
            )
        body = "".join(rows) or '<p class="muted">No invoices yet.</p>'
        return f'<div class="card"><h2>Invoice history</h2>{body}</div>'

    def update_page(self, sub: Record, error: str | None = None, field: str | None = None) -> str:
        state, feature = self.state, self.config["features"]["subscription_update"]
        forms = []
        for item in items_of(state, sub):
            current = state.get(item["price"], "price")
            choices = rules.price_choices(state, self.config, sub, item)
            radios = "".join(
                f'<label class="rowline" style="margin:0;font-weight:400"><span><input type="radio" '
                f'name="price" value="{e(p["id"])}"{" checked" if p["id"] == current["id"] else ""}> '
                f"{e(self._price_text(p, None))}</span>"
                + ('<span class="badge">Current</span>' if p["id"] == current["id"] else "")
                + "</label>"
                for p in choices
            )
            rule = rules.quantity_rule(self.config, current["product"])
            qty = ""
            if rule.enabled:
                top = f' max="{rule.maximum}"' if rule.maximum is not None else ""
                qty = (
                    f'<label for="quantity-{e(item["id"])}">Quantity</label><input type="number" '
                    f'id="quantity-{e(item["id"])}" name="quantity" min="{rule.minimum}"{top} '
                    f'value="{e(item["quantity"])}">'
                )
            forms.append(
                f'<form method="get" action="{e(self.base)}/subscriptions/{e(sub["id"])}/update/review">'
                f'<input type="hidden" name="item" value="{e(item["id"])}">{radios}{qty}'
                '<button type="submit" class="wide" id="review-update">Continue</button></form>'
            )
        note = {
            "create_prorations": "Changes apply now; the prorated difference appears on your next invoice.",
            "always_invoice": "Changes apply now and you're charged or credited the prorated difference today.",
            "none": "Your new price applies from your next billing date.",
        }.get(feature["proration_behavior"], "")
        if feature["schedule_at_period_end"]["conditions"]:
            note += " Downgrades take effect at the end of the current billing period."
        main = (
            f'{self.back()}<div class="card"><h2>Update your plan</h2>{banner(error)}'
            f'<p class="small muted">{e(note)}</p>{"".join(forms)}</div>'
        )
        return self.frame("Update plan", main)

    def cancel_page(self, sub: Record, error: str | None = None) -> str:
        feature = self.config["features"]["subscription_cancel"]
        _, end = period_of(sub)
        if feature["mode"] == "immediately":
            text = "Your subscription will be canceled immediately."
        else:
            text = (
                f"Your subscription will be canceled, but is still available until the end of your "
                f"billing period on {date(end)}."
            )
        reasons = ""
        if feature["cancellation_reason"]["enabled"]:
            reasons = (
                '<h3 style="margin-top:16px">Tell us why you\'re leaving (optional)</h3>'
                + "".join(
                    f'<label style="font-weight:400"><input type="radio" name="reason" value="{e(r)}"> '
                    f"{e(REASON_LABELS.get(r, r))}</label>"
                    for r in feature["cancellation_reason"]["options"]
                )
                + (
                    '<label for="comment">Anything else?</label>'
                    '<input type="text" id="comment" name="comment" maxlength="500">'
                )
            )
        offer = self._retention(sub)
        main = (
            f'{self.back()}<div class="card"><h2>Cancel your plan</h2>{banner(error)}'
            f'<p>{e(self._price_text_of(sub))}</p><p class="muted">{e(text)}</p>{offer}'
            f'<form method="post" action="{e(self.base)}/subscriptions/{e(sub["id"])}/cancel">{reasons}'
            '<div class="actions"><button type="submit" class="danger" id="confirm-cancel">'
            "Cancel plan</button></div></form></div>"
        )
        return self.frame("Cancel plan", main)

    def _price_text_of(self, sub: Record) -> str:
        return ", ".join(
            self._price_text(self.state.get(i["price"], "price"), i["quantity"]) for i in items_of(self.state, sub)
        )

    def _retention(self, sub: Record) -> str:
        flow = self.session.get("flow") or {}
        cancel = flow.get("subscription_cancel") or {}
        retention = cancel.get("retention")
        if not retention or cancel.get("subscription") != sub["id"] or self.session.get("_offer_used"):
            return ""
        coupon = self.state.find(retention["coupon_offer"]["coupon"], "coupon") or {}
        if coupon.get("percent_off") is not None:
            off = f"{coupon['percent_off']:g}% off"
        else:
            off = f"{money(coupon.get('amount_off'), coupon.get('currency'))} off"
        return (
            f'<div class="banner info">Before you go: stay and get <b>{e(off)}</b>.'
            f'<form method="post" action="{e(self.base)}/subscriptions/{e(sub["id"])}/offer" '
            'style="margin-top:8px"><button type="submit" id="accept-offer">Accept offer</button>'
            "</form></div>"
        )

    def card_page(
        self, entry: CardEntry | None = None, errors: dict[str, str] | None = None, error: str | None = None
    ) -> str:
        errors = errors or {}
        main = (
            f'{self.back()}<div class="card"><h2>Update payment method</h2>{banner(error)}'
            f'<form method="post" action="{e(self.base)}/payment-method" novalidate>'
            f'{card_fields(entry, errors)}<p class="small muted">The card becomes your default payment '
            "method for future invoices and all your subscriptions.</p>"
            '<button type="submit" class="wide" id="save-card">Save</button></form></div>'
        )
        return self.frame("Payment method", main)

    def customer_page(
        self, values: dict[str, Any] | None = None, error: str | None = None, field: str | None = None
    ) -> str:
        values = values or {}
        errors = {field: error} if field and error else {}
        fields = "".join(
            f'<label for="{f}">{f.title()}</label><input type="{"email" if f == "email" else "text"}" '
            f'id="{f}" name="{f}" class="{bad(errors, f).strip()}" '
            f'value="{e(values.get(f, self.customer.get(f) or ""))}">{field_error(errors, f)}'
            for f in rules.editable_fields(self.config)
        )
        main = (
            f'{self.back()}<div class="card"><h2>Billing information</h2>'
            f"{banner(None if errors else error)}"
            f'<form method="post" action="{e(self.base)}/customer" novalidate>{fields}'
            '<button type="submit" class="wide" id="save-customer">Save</button></form></div>'
        )
        return self.frame("Billing information", main)

    def _changes(self, plans: list[rules.ItemPlan]) -> str:
        return "".join(
            f'<div class="rowline"><span>{e(self._price_text(p.current, p.item["quantity"]))}</span>'
            f"<span>→</span><b>{e(self._price_text(p.price, p.quantity))}</b></div>"
            for p in plans
        )

    def _preview(self, preview: rules.ChangePreview | None) -> str:
        """What confirming will charge or credit, from the invoice preview: its lines (the
        prorations, or the new period), then what is due today and what the next invoice is."""
        if preview is None:
            return '<p class="muted" id="preview-note">Nothing changes: this is your current plan.</p>'
        invoice, cur = preview.invoice, preview.invoice["currency"]
        now = preview.timing == "now"
        lines = [line for line in invoice["_lines"] if now or _is_proration(line)]
        rows = [row(line["description"] or "", money(line["amount"], cur)) for line in lines]
        if now:
            rows.append(row("Total", money(invoice["total"], cur), cls="sub"))
            applied = applied_balance(invoice)
            if applied:
                label = "Credited to your balance" if invoice["total"] < 0 else "Applied balance"
                rows.append(row(label, money(applied, cur), cls="sub", value_id="balance-change"))
            rows.append(row("Due today", money(invoice["amount_due"], cur), cls="total", value_id="due-today"))
            note = "You're charged the prorated difference today." if invoice["total"] > 0 else ""
        else:
            rows.append(row("Due today", money(0, cur), cls="total", value_id="due-today"))
            when = date(invoice["period_end"])
            rows.append(
                row(f"Next invoice, {when}", money(invoice["amount_due"], cur), cls="sub", value_id="next-invoice")
            )
            if preview.timing == "period_end":
                note = f"Your new plan starts on {date(preview.starts_at)}; until then nothing changes."
            elif lines:
                note = "The prorated difference is added to your next invoice."
            else:
                note = "Your new price applies from your next invoice."
        text = f'<p class="small muted" id="preview-note">{e(note)}</p>' if note else ""
        table = f'<table class="lines" id="preview">{"".join(rows)}</table>'
        return f'<h3 style="margin-top:18px">Amount due</h3>{table}{text}'

    def _proration_date(self, preview: rules.ChangePreview | None) -> str:
        if preview is None:
            return ""
        return f'<input type="hidden" name="proration_date" value="{preview.proration_date}">'

    def review_page(
        self, sub: Record, plan: rules.ItemPlan, preview: rules.ChangePreview | None, error: str | None = None
    ) -> str:
        """The step between choosing and changing: the change, and what it will charge or credit."""
        path = f"{self.base}/subscriptions/{sub['id']}/update"
        fields = "".join(
            f'<input type="hidden" name="{k}" value="{e(v)}">'
            for k, v in (("item", plan.item["id"]), ("price", plan.price["id"]), ("quantity", plan.quantity))
        )
        confirm = (
            f'<form method="post" action="{e(path)}">{fields}{self._proration_date(preview)}'
            '<button type="submit" class="wide" id="confirm-update">Confirm</button></form>'
            if preview is not None
            else ""
        )
        main = (
            f'<a class="back" href="{e(path)}">← Back</a><div class="card"><h2>Confirm your new plan</h2>'
            f"{banner(error)}{self._changes([plan])}{self._preview(preview)}{confirm}</div>"
        )
        return self.frame("Confirm update", main)

    def confirm_page(
        self,
        sub: Record,
        plans: list[rules.ItemPlan],
        preview: rules.ChangePreview | None,
        error: str | None = None,
    ) -> str:
        main = (
            f'<div class="card"><h2>Confirm your new plan</h2>{banner(error)}{self._changes(plans)}'
            f"{self._preview(preview)}"
            f'<form method="post" action="{e(self.base)}/subscriptions/{e(sub["id"])}/confirm">'
            f"{self._proration_date(preview)}"
            '<button type="submit" class="wide" id="confirm-update">Confirm</button></form></div>'
        )
        return self.frame("Confirm update", main)

    def confirmation(self, message: str) -> str:
        main = f'<div class="card"><h2>Done</h2>{banner(message, "ok")}</div>'
        return self.frame("Done", main)
