"""Regenerate stripesim's blank object shapes from Stripe's example objects.

Usage: python tools/gen_shapes.py ../shared/stripe/fixtures3.json

Only field names and structure carry over: every value is blanked (strings and numbers
to null, booleans to false, lists to empty); stripesim's builders fill in real values.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SIMULATED = [
    "account",
    "balance_transaction",
    "billing.meter",
    "billing.meter_event",
    "billing.meter_event_summary",
    "billing_portal.configuration",
    "billing_portal.session",
    "charge",
    "checkout.session",
    "coupon",
    "customer",
    "deleted_coupon",
    "deleted_customer",
    "deleted_product",
    "deleted_price",
    "deleted_subscription_item",
    "deleted_test_helpers.test_clock",
    "deleted_webhook_endpoint",
    "deleted_discount",
    "deleted_invoice",
    "deleted_invoiceitem",
    "deleted_tax_id",
    "discount",
    "dispute",
    "event",
    "invoice",
    "invoice_payment",
    "invoiceitem",
    "item",
    "line_item",
    "payment_intent",
    "payment_method",
    "price",
    "product",
    "promotion_code",
    "refund",
    "setup_intent",
    "subscription",
    "subscription_item",
    "subscription_schedule",
    "tax_id",
    "tax_rate",
    "test_helpers.test_clock",
    "webhook_endpoint",
]


def blank(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: blank(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return []
    if isinstance(value, bool):
        return False
    if key == "object" and isinstance(value, str):
        return value
    return None


def main() -> None:
    fixture = json.loads(Path(sys.argv[1]).read_text())["resources"]
    out = Path(__file__).resolve().parent.parent / "src" / "stripesim" / "shapes"
    out.mkdir(exist_ok=True)
    shapes = {name: blank(fixture[name]) for name in SIMULATED}
    (out / "blank.json").write_text(json.dumps(shapes, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(shapes)} shapes to {out / 'blank.json'}")


if __name__ == "__main__":
    main()
