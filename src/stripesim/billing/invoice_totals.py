"""An invoice's totals: discounts spread over its discountable lines, then taxes per line and
per rate, then what is due."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from stripesim.billing.discounts import applies_to_products, discount_amount
from stripesim.billing.pricing import round_half_up, tax_amount
from stripesim.shapes import new_record
from stripesim.state import Record, State


def compute_totals(state: State, invoice: Record) -> None:
    lines = invoice["_lines"]
    subtotal = sum(line["amount"] for line in lines)
    at = invoice["created"]
    for line in lines:
        line["discount_amounts"] = []
        line["discounts"] = []
        line["taxes"] = []
    total_discounts: list[dict[str, Any]] = []
    for discount_id in invoice["discounts"]:
        discount = state.find(discount_id, "discount")
        if discount is None:
            continue
        applies = applies_to_products(discount)
        eligible = [
            line
            for line in lines
            if line["discountable"]
            and line["amount"] > 0
            and (not applies or ((line["pricing"].get("price_details") or {}).get("product") in applies))
        ]
        base = sum(line["amount"] - sum(d["amount"] for d in line["discount_amounts"]) for line in eligible)
        if base <= 0:
            continue
        off = min(base, discount_amount(state, discount, base, at=at))
        if off <= 0:
            continue
        total_discounts.append({"amount": off, "discount": discount_id})
        remaining = off
        for i, line in enumerate(eligible):
            share = remaining if i == len(eligible) - 1 else round_half_up(Decimal(off) * line["amount"] / base)
            share = min(share, remaining)
            remaining -= share
            line["discount_amounts"].append({"amount": share, "discount": discount_id})
            line["discounts"].append(discount_id)
    discount_total = sum(d["amount"] for d in total_discounts)
    taxes: list[dict[str, Any]] = []
    rates = _tax_rates(state, invoice)
    for line in lines:
        taxable = line["amount"] - sum(d["amount"] for d in line["discount_amounts"])
        for rate in rates:
            entry = {
                "amount": tax_amount(rate, taxable),
                "tax_behavior": "inclusive" if rate.get("inclusive") else "exclusive",
                "tax_rate_details": {"tax_rate": rate["id"]},
                "taxability_reason": "standard_rated",
                "taxable_amount": taxable,
                "type": "tax_rate_details",
            }
            line["taxes"].append(entry)
    for rate in rates:
        amount = sum(
            t["amount"] for line in lines for t in line["taxes"] if t["tax_rate_details"]["tax_rate"] == rate["id"]
        )
        taxable = sum(
            t["taxable_amount"]
            for line in lines
            for t in line["taxes"]
            if t["tax_rate_details"]["tax_rate"] == rate["id"]
        )
        taxes.append(
            {
                "amount": amount,
                "tax_behavior": "inclusive" if rate.get("inclusive") else "exclusive",
                "tax_rate_details": {"tax_rate": rate["id"]},
                "taxability_reason": "standard_rated",
                "taxable_amount": taxable,
                "type": "tax_rate_details",
            }
        )
    exclusive_tax = sum(t["amount"] for t in taxes if t["tax_behavior"] == "exclusive")
    inclusive_tax = sum(t["amount"] for t in taxes if t["tax_behavior"] == "inclusive")
    invoice["subtotal"] = subtotal
    invoice["subtotal_excluding_tax"] = subtotal - inclusive_tax
    invoice["total_discount_amounts"] = total_discounts
    invoice["total_taxes"] = taxes
    invoice["total"] = subtotal - discount_total + exclusive_tax
    invoice["total_excluding_tax"] = subtotal - discount_total - inclusive_tax
    invoice["amount_due"] = max(0, invoice["total"])
    invoice["amount_remaining"] = invoice["amount_due"] - invoice["amount_paid"]


def _tax_rates(state: State, invoice: Record) -> list[Record]:
    rates = [state.find(r, "tax_rate") for r in invoice.get("default_tax_rates") or []]
    found = [r for r in rates if r is not None]
    if invoice["automatic_tax"]["enabled"]:
        found.append(automatic_tax_rate(state))
    return found


def automatic_tax_rate(state: State) -> Record:
    """`automatic_tax` is simulated as one flat exclusive rate (configurable)."""
    rate_id = state.extras.get("automatic_tax_rate")
    pct = state.config.automatic_tax_percent
    found = state.find(rate_id, "tax_rate") if rate_id else None
    if found is not None and found["percentage"] == pct:
        return found
    record = new_record(
        "tax_rate",
        "txr",
        created=state.now(),
        active=True,
        country="US",
        description="stripesim automatic tax (flat rate)",
        display_name="Sales tax",
        effective_percentage=pct,
        flat_amount=None,
        inclusive=False,
        jurisdiction="SIM",
        jurisdiction_level="state",
        percentage=pct,
        rate_type="percentage",
        state=None,
        tax_type="sales_tax",
    )
    state.insert(record)
    state.extras["automatic_tax_rate"] = record["id"]
    return record
