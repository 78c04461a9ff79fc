"""What a plan change would cost, shown before the user confirms it.

Every amount comes from Stripe's `invoices.create_preview`; nothing is computed here but
sums of Stripe's own lines. An upgrade previews the invoice it is charged on now (prorated
at `proration_date`, which the confirmation may send back so the charge matches to the cent)
and the renewal after it; a downgrade charges nothing now and previews the renewal at the
new price; a change during a trial charges nothing and previews the invoice at its end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from paywire.billing.errors import BillingUnavailable
from paywire.billing.operations import BillingContext
from paywire.billing.plan_changes import ChangeKind, PlannedChange, plan_change
from paywire.billing.plan_items import change_items, new_items
from paywire.stripe import StripeUnavailable


@dataclass(frozen=True)
class ChangePreview:
    kind: ChangeKind
    effective: str  # "now" | "period_end"
    effective_date: int
    currency: str
    amount_due_now: int
    credit: int  # unused time given back, as a positive amount
    tax_now: int
    proration_date: int | None
    lines: list[dict[str, Any]] = field(default_factory=list)
    next_invoice_date: int | None = None
    next_invoice_amount: int | None = None
    next_invoice_lines: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "change": self.kind.value,
            "effective": self.effective,
            "effective_date": self.effective_date,
            "currency": self.currency,
            "amount_due_now": self.amount_due_now,
            "credit": self.credit,
            "tax_now": self.tax_now,
            "proration_date": self.proration_date,
            "lines": self.lines,
            "next_invoice": {
                "date": self.next_invoice_date,
                "amount": self.next_invoice_amount,
                "lines": self.next_invoice_lines,
            },
        }


def preview_change(
    ctx: BillingContext,
    *,
    user_id: str,
    plan: str | None,
    interval: str | None,
    quantity: int | None = None,
    subscription_id: str | None = None,
) -> ChangePreview:
    """The preview of `change_plan` with the same arguments; refuses what it would refuse."""
    planned = plan_change(
        ctx, user_id=user_id, plan=plan, interval=interval, quantity=quantity, subscription_id=subscription_id
    )
    try:
        if planned.cur.trialing:
            return _trial_preview(ctx, planned)
        if planned.kind is ChangeKind.UPGRADE:
            return _upgrade_preview(ctx, planned)
        return _downgrade_preview(ctx, planned)
    except StripeUnavailable as exc:
        raise BillingUnavailable("Billing is temporarily unavailable; try again.") from exc


def _items(ctx: BillingContext, planned: PlannedChange) -> list[dict[str, Any]]:
    return change_items(ctx.catalog, ctx.prices, planned.cur.items, planned.target)


def _base(ctx: BillingContext, planned: PlannedChange, details: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {
        "customer": planned.cur.customer.stripe_customer_id,
        "subscription": planned.cur.id,
        "subscription_details": details,
    }
    if ctx.settings.automatic_tax:
        params["automatic_tax"] = {"enabled": True}
    return params


def _renewal_at_new_price(ctx: BillingContext, planned: PlannedChange) -> dict[str, Any]:
    """The first full invoice at the target price. On the same interval: the subscription's
    next renewal with the change in place (its discounts included). A new interval starts a
    cycle of its own, so it is previewed as a subscription to the target alone."""
    if planned.cur.interval == planned.target.interval:
        details = {"items": _items(ctx, planned), "proration_behavior": "none"}
        return ctx.gateway.preview_invoice(_base(ctx, planned, details))
    params: dict[str, Any] = {
        "customer": planned.cur.customer.stripe_customer_id,
        "subscription_details": {"items": new_items(ctx.catalog, ctx.prices, planned.target)},
    }
    if ctx.settings.automatic_tax:
        params["automatic_tax"] = {"enabled": True}
    return ctx.gateway.preview_invoice(params)


def _upgrade_preview(ctx: BillingContext, planned: PlannedChange) -> ChangePreview:
    at = planned.cur.now
    details = {"items": _items(ctx, planned), "proration_behavior": "always_invoice", "proration_date": at}
    now_invoice = ctx.gateway.preview_invoice(_base(ctx, planned, details))
    lines = _lines(now_invoice)
    renewal = _renewal_at_new_price(ctx, planned)
    if planned.cur.interval == planned.target.interval:
        next_date = planned.cur.period[1]
    else:
        # The new cycle starts now; it renews when the period charged now ends.
        next_date = max((line["period_end"] for line in lines if not line["proration"]), default=at)
    return ChangePreview(
        kind=planned.kind,
        effective="now",
        effective_date=at,
        currency=str(now_invoice.get("currency")),
        amount_due_now=int(now_invoice.get("amount_due") or 0),
        credit=-sum(line["amount"] for line in lines if line["amount"] < 0),
        tax_now=_tax(now_invoice),
        proration_date=at,
        lines=lines,
        next_invoice_date=next_date,
        next_invoice_amount=int(renewal.get("amount_due") or 0),
        next_invoice_lines=_lines(renewal),
    )


def _downgrade_preview(ctx: BillingContext, planned: PlannedChange) -> ChangePreview:
    renewal = _renewal_at_new_price(ctx, planned)
    period_end = planned.cur.period[1]
    return ChangePreview(
        kind=planned.kind,
        effective="period_end",
        effective_date=period_end,
        currency=str(renewal.get("currency")),
        amount_due_now=0,
        credit=0,
        tax_now=0,
        proration_date=None,
        next_invoice_date=period_end,
        next_invoice_amount=int(renewal.get("amount_due") or 0),
        next_invoice_lines=_lines(renewal),
    )


def _trial_preview(ctx: BillingContext, planned: PlannedChange) -> ChangePreview:
    details = {"items": _items(ctx, planned), "proration_behavior": "none"}
    at_trial_end = ctx.gateway.preview_invoice(_base(ctx, planned, details))
    trial_end = int(planned.cur.fresh.get("trial_end") or planned.cur.period[1])
    return ChangePreview(
        kind=planned.kind,
        effective="now",
        effective_date=planned.cur.now,
        currency=str(at_trial_end.get("currency")),
        amount_due_now=0,
        credit=0,
        tax_now=0,
        proration_date=None,
        next_invoice_date=trial_end,
        next_invoice_amount=int(at_trial_end.get("amount_due") or 0),
        next_invoice_lines=_lines(at_trial_end),
    )


def _lines(invoice: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for line in (invoice.get("lines") or {}).get("data") or []:
        parent = line.get("parent") or {}
        details = parent.get("subscription_item_details") or parent.get("invoice_item_details") or {}
        period = line.get("period") or {}
        out.append(
            {
                "description": line.get("description"),
                "amount": int(line.get("amount") or 0),
                "quantity": line.get("quantity"),
                "proration": bool(details.get("proration")),
                "period_start": period.get("start"),
                "period_end": period.get("end"),
            }
        )
    return out


def _tax(invoice: dict[str, Any]) -> int:
    taxes = invoice.get("total_taxes") or []
    return sum(int(t.get("amount") or 0) for t in taxes if isinstance(t, dict))
