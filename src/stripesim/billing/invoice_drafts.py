"""A draft invoice before it is stored: its fields, its lines, the pending invoice items it
sweeps up, and the invoice items themselves. Nothing here is stored or announced except an
invoice item; `invoices.create` stores and announces an invoice."""

from __future__ import annotations

from typing import Any

from stripesim.ids import new_id
from stripesim.shapes import new_record
from stripesim.state import Record, State

DAY = 86400


def new_invoice(
    state: State,
    customer: Record,
    *,
    billing_reason: str,
    currency: str,
    subscription: Record | None = None,
    period_start: int | None = None,
    period_end: int | None = None,
    collection_method: str = "charge_automatically",
    days_until_due: int | None = None,
    automatic_tax: bool = False,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    discount_ids: list[str] | None = None,
    at: int | None = None,
) -> Record:
    """A draft invoice, not yet stored: add lines, then `create`."""
    now = at if at is not None else state.now_for(customer)
    parent = None
    if subscription is not None:
        parent = {
            "quote_details": None,
            "subscription_details": {
                "metadata": dict(subscription.get("metadata") or {}),
                "subscription": subscription["id"],
            },
            "type": "subscription_details",
        }
    invoice = new_record(
        "invoice",
        "in",
        created=now,
        account_country="US",
        account_name="stripesim",
        account_tax_ids=None,
        amount_due=0,
        amount_overpaid=0,
        amount_paid=0,
        amount_remaining=0,
        amount_shipping=0,
        application=None,
        attempt_count=0,
        attempted=False,
        auto_advance=collection_method == "charge_automatically",
        automatically_finalizes_at=None,
        billing_reason=billing_reason,
        collection_method=collection_method,
        currency=currency,
        custom_fields=None,
        customer=customer["id"],
        customer_account=None,
        customer_address=customer.get("address"),
        customer_email=customer.get("email"),
        customer_name=customer.get("name"),
        customer_phone=customer.get("phone"),
        customer_shipping=None,
        customer_tax_exempt=customer.get("tax_exempt") or "none",
        customer_tax_ids=[],
        default_payment_method=None,
        default_source=None,
        default_tax_rates=[],
        description=description,
        discounts=[],
        due_date=None,
        effective_at=None,
        ending_balance=None,
        footer=None,
        from_invoice=None,
        hosted_invoice_url=None,
        invoice_pdf=None,
        issuer={"type": "self"},
        last_finalization_error=None,
        latest_revision=None,
        next_payment_attempt=None,
        number=None,
        on_behalf_of=None,
        parent=parent,
        period_end=period_end if period_end is not None else now,
        period_start=period_start if period_start is not None else now,
        post_payment_credit_notes_amount=0,
        pre_payment_credit_notes_amount=0,
        receipt_number=None,
        rendering=None,
        shipping_cost=None,
        shipping_details=None,
        starting_balance=0,
        statement_descriptor=None,
        status="draft",
        subtotal=0,
        subtotal_excluding_tax=0,
        test_clock=customer.get("test_clock"),
        total=0,
        total_discount_amounts=[],
        total_excluding_tax=0,
        total_pretax_credit_amounts=[],
        total_taxes=[],
        webhooks_delivered_at=None,
    )
    invoice.pop("subscription", None)
    invoice["automatic_tax"] = {
        "disabled_reason": None,
        "enabled": automatic_tax,
        "liability": {"type": "self"} if automatic_tax else None,
        "provider": "stripe" if automatic_tax else None,
        "status": "complete" if automatic_tax else None,
    }
    invoice["payment_settings"] = {
        "default_mandate": None,
        "payment_method_options": None,
        "payment_method_types": None,
    }
    invoice["status_transitions"] = {
        "finalized_at": None,
        "marked_uncollectible_at": None,
        "paid_at": None,
        "voided_at": None,
    }
    invoice["metadata"] = dict(metadata or {})
    if collection_method == "send_invoice":
        invoice["due_date"] = now + (days_until_due or 30) * DAY
    invoice["discounts"] = list(discount_ids or [])
    invoice["_lines"] = []
    invoice["_subscription"] = subscription["id"] if subscription else None
    return invoice


def subscription_of(record: Record) -> str | None:
    """The subscription an invoice or invoice item belongs to (`parent.subscription_details`)."""
    parent = record.get("parent") or {}
    details = parent.get("subscription_details") or {}
    return details.get("subscription")


def add_line(
    state: State,
    invoice: Record,
    *,
    amount: int,
    description: str,
    price: Record | None,
    quantity: int | None,
    period_start: int,
    period_end: int,
    subscription: str | None = None,
    subscription_item: str | None = None,
    invoice_item: str | None = None,
    proration: bool = False,
    discountable: bool = True,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    details: dict[str, Any] = {
        "invoice_item": invoice_item,
        "proration": proration,
        "proration_details": {"credited_items": None},
    }
    if invoice_item:
        parent = {
            "invoice_item_details": {**details, "subscription": subscription},
            "subscription_item_details": None,
            "type": "invoice_item_details",
        }
    else:
        parent = {
            "invoice_item_details": None,
            "subscription_item_details": {
                **details,
                "subscription": subscription,
                "subscription_item": subscription_item,
            },
            "type": "subscription_item_details",
        }
    line = {
        "amount": amount,
        "currency": invoice["currency"],
        "description": description,
        "discount_amounts": [],
        "discountable": discountable,
        "discounts": [],
        "id": new_id("il"),
        "invoice": invoice["id"],
        "livemode": False,
        "metadata": dict(metadata or {}),
        "object": "line_item",
        "parent": parent,
        "period": {"end": period_end, "start": period_start},
        "pretax_credit_amounts": [],
        "pricing": {
            "price_details": {"price": price["id"], "product": price["product"]} if price else None,
            "type": "price_details",
            "unit_amount_decimal": price.get("unit_amount_decimal") if price else None,
        },
        "quantity": quantity,
        "quantity_decimal": str(quantity) if quantity is not None else None,
        "subscription": subscription,
        "subtotal": amount,
        "taxes": [],
    }
    invoice["_lines"].append(line)
    return line


def sweep_pending_items(state: State, invoice: Record, subscription_id: str | None) -> None:
    """Pending invoice items (prorations) of the customer/subscription move onto this invoice."""
    for item in list(state.all("invoiceitem")):
        if item.get("invoice") or item["customer"] != invoice["customer"]:
            continue
        item_sub = subscription_of(item)
        if subscription_id is not None and item_sub not in (None, subscription_id):
            continue
        item["invoice"] = invoice["id"]
        add_item_line(
            state, invoice, item, subscription=item_sub, proration=item["proration"], discountable=item["discountable"]
        )


def add_item_line(
    state: State, invoice: Record, item: Record, *, subscription: str | None, proration: bool, discountable: bool
) -> None:
    """An invoice item as a line of `invoice`."""
    add_line(
        state,
        invoice,
        amount=item["amount"],
        description=item["description"] or "",
        price=state.find(((item.get("pricing") or {}).get("price_details") or {}).get("price")),
        quantity=item["quantity"],
        period_start=item["period"]["start"],
        period_end=item["period"]["end"],
        subscription=subscription,
        invoice_item=item["id"],
        proration=proration,
        discountable=discountable,
    )


def invoice_item(
    *,
    at: int,
    amount: int,
    currency: str,
    customer: str,
    description: str | None,
    discountable: bool,
    invoice: str | None,
    subscription: str | None,
    period: tuple[int, int],
    quantity: int,
    test_clock: str | None,
    price: Record | None = None,
    proration: bool = False,
) -> Record:
    """An invoice item, not yet stored: a charge or credit waiting for the customer's next
    invoice (or already on `invoice`, a draft)."""
    start, end = period
    return new_record(
        "invoiceitem",
        "ii",
        created=at,
        amount=amount,
        currency=currency,
        customer=customer,
        customer_account=None,
        date=at,
        description=description,
        discountable=discountable,
        discounts=[],
        invoice=invoice,
        net_amount=amount,
        parent={
            "subscription_details": {"subscription": subscription},
            "type": "subscription_details",
        }
        if subscription
        else None,
        period={"end": end, "start": start},
        pricing={
            "price_details": {"price": price["id"], "product": price["product"]},
            "type": "price_details",
            "unit_amount_decimal": price.get("unit_amount_decimal"),
        }
        if price
        else None,
        proration=proration,
        proration_details={"credited_items": None, "discount_amounts": []},
        quantity=quantity,
        quantity_decimal=str(quantity),
        tax_rates=[],
        test_clock=test_clock,
    )


def cycle_invoice(
    state: State,
    sub: Record,
    customer: Record,
    *,
    billing_reason: str,
    period_start: int,
    period_end: int,
    at: int | None = None,
) -> Record:
    """The draft of a subscription's own billing (its first invoice, each renewal), with its
    collection method, taxes and discounts."""
    invoice = new_invoice(
        state,
        customer,
        billing_reason=billing_reason,
        currency=sub["currency"],
        subscription=sub,
        period_start=period_start,
        period_end=period_end,
        collection_method=sub["collection_method"],
        days_until_due=sub["days_until_due"],
        automatic_tax=sub["automatic_tax"]["enabled"],
        discount_ids=discounts_for(state, sub, customer),
        at=at,
    )
    invoice["default_tax_rates"] = list(sub["_default_tax_rates"])
    return invoice


def discounts_for(state: State, sub: Record, customer: Record) -> list[str]:
    """The discounts a subscription's invoice carries: its own, then its customer's."""
    ids = list(sub.get("discounts") or [])
    customer_discount = customer.get("_discount")
    if customer_discount and customer_discount not in ids:
        ids.append(customer_discount)
    return ids
