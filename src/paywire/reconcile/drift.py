"""What differs between a mirror row and Stripe's object. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from paywire.db.models import Customer, Invoice, Subscription
from paywire.mirror.rows import invoice_row, item_rows, subscription_row

# Columns that say what the customer has and pays; `stripe_object` and `synced_at` are not
# compared (the first changes with every field, the second is paywire's own).
SUBSCRIPTION_FIELDS = (
    "status",
    "quantity",
    "current_period_start",
    "current_period_end",
    "cancel_at_period_end",
    "cancel_at",
    "canceled_at",
    "ended_at",
    "trial_start",
    "trial_end",
    "pause_collection",
    "stripe_customer_id",
    "latest_invoice_id",
    "schedule_id",
)
INVOICE_FIELDS = (
    "status",
    "amount_due",
    "amount_paid",
    "amount_remaining",
    "currency",
    "attempt_count",
    "next_payment_attempt",
    "subscription_id",
    "stripe_customer_id",
    "billing_reason",
    "period_start",
    "period_end",
    "hosted_invoice_url",
)

MISSING = "missing"  # Stripe has it, the mirror does not
DIFFERENT = "different"  # both have it, some fields differ
EXTRA = "extra"  # the mirror has it, Stripe does not
UNLINKED = "unlinked"  # a Stripe customer naming a user (or, adopting, any), without a link


@dataclass(frozen=True)
class Change:
    field: str
    mirror: Any
    stripe: Any

    def __str__(self) -> str:
        return f"{self.field} {_show(self.mirror)} → {_show(self.stripe)}"


@dataclass
class Drift:
    resource: str  # customer | subscription | invoice
    object_id: str
    kind: str  # missing | different | extra | unlinked
    changes: list[Change] = field(default_factory=list)
    action: str = ""  # what sync did about it: added, updated, removed, kept: why, would …
    note: str = ""
    plan: str = ""  # what a repair would do, when the check already knows (a dry run says it)
    listed: Any = field(default=None, repr=False, compare=False)  # Stripe's object, as listed

    def __str__(self) -> str:
        what = {
            MISSING: "missing from the mirror",
            EXTRA: "not in Stripe",
            UNLINKED: "not linked to a user",
            DIFFERENT: ", ".join(str(c) for c in self.changes),
        }[self.kind]
        extra = f" ({self.note})" if self.note else ""
        return f"{self.resource} {self.object_id}: {what}{extra} [{self.action}]"


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def differences(mirror: Mapping[str, Any], stripe: Mapping[str, Any], fields: Iterable[str]) -> list[Change]:
    return [Change(f, mirror.get(f), stripe.get(f)) for f in fields if mirror.get(f) != stripe.get(f)]


def subscription_changes(
    row: Subscription,
    stripe_subscription: dict[str, Any],
    *,
    plan: str | None,
    interval: str | None,
    user_id: str | None,
) -> list[Change]:
    """How the mirrored subscription differs from Stripe's, in the mirror's own terms
    (periods from the items, plan through the catalog)."""
    wanted = subscription_row(stripe_subscription)
    wanted.update(plan=plan, interval=interval)
    have = {f: getattr(row, f) for f in (*SUBSCRIPTION_FIELDS, "plan", "interval")}
    changes = differences(have, wanted, (*SUBSCRIPTION_FIELDS, "plan", "interval"))
    if user_id is not None and row.user_id != user_id:
        changes.append(Change("user_id", row.user_id, user_id))
    have_items = sorted((i.id, i.price_id, i.quantity) for i in row.items)
    wanted_items = sorted((i["id"], i["price_id"], i["quantity"]) for i in item_rows(stripe_subscription))
    if have_items != wanted_items:
        changes.append(Change("items", _items(have_items), _items(wanted_items)))
    return changes


def _items(items: list[tuple[str, str, int | None]]) -> str:
    return "[" + ", ".join(f"{price}×{quantity}" for _, price, quantity in items) + "]"


def invoice_changes(row: Invoice, stripe_invoice: dict[str, Any]) -> list[Change]:
    have = {f: getattr(row, f) for f in INVOICE_FIELDS}
    return differences(have, invoice_row(stripe_invoice), INVOICE_FIELDS)


def customer_changes(row: Customer, *, email: str | None, test_clock_id: str | None) -> list[Change]:
    have = {"email": row.email, "test_clock_id": row.test_clock_id}
    return differences(have, {"email": email, "test_clock_id": test_clock_id}, ("email", "test_clock_id"))
