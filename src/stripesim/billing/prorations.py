"""Prorations: credits for the unused part of a period and debits for the rest of it, as
pending invoice items that join the subscription's next invoice."""

from __future__ import annotations

from stripesim.billing.invoice_drafts import invoice_item
from stripesim.billing.periods import day_label
from stripesim.billing.pricing import amount_for, prorated
from stripesim.billing.subscription_items import is_metered, items_of, period_of, product_name
from stripesim.state import Record, State

# How a change is charged: prorations on the next invoice, an invoice now, or nothing.
PRORATION_BEHAVIORS = ("create_prorations", "always_invoice", "none")


def time_label(kind: str, state: State, price: Record, quantity: int | None, at: int) -> str:
    """Stripe's proration line text, e.g. "Unused time on Pro after 15 Feb 2026"."""
    count = f"{quantity} × " if quantity and quantity != 1 else ""
    return f"{kind} time on {count}{product_name(state, price)} after {day_label(at)}"


def pending_item(
    state: State, sub: Record, price: Record, quantity: int | None, amount: int, description: str, start: int, end: int
) -> Record:
    """A pending proration invoice item; it joins the subscription's next invoice."""
    item = invoice_item(
        at=state.now_for(sub),
        amount=amount,
        currency=sub["currency"],
        customer=sub["customer"],
        description=description,
        discountable=False,
        invoice=None,
        subscription=sub["id"],
        period=(start, end),
        quantity=quantity or 1,
        test_clock=sub.get("test_clock"),
        price=price,
        proration=True,
    )
    state.insert(item)
    state.emit("invoiceitem.created", item)
    return item


def credit_unused_time(state: State, sub: Record, at: int) -> None:
    """A pending credit for the unused part of the current period (cancel with prorate).

    Only paid time is credited: a trial or a pause has nothing to give back.
    """
    if sub["status"] in ("trialing", "paused", "incomplete", "incomplete_expired"):
        return
    start, end = period_of(sub)
    for item in items_of(state, sub):
        price = state.get(item["price"], "price")
        if is_metered(price):
            continue
        amount = prorated(amount_for(price, item["quantity"]), start, end, at)
        if amount:
            pending_item(
                state,
                sub,
                price,
                item["quantity"],
                -amount,
                time_label("Unused", state, price, item["quantity"], at),
                at,
                end,
            )
