"""Business facts, read from Stripe's current state: pure functions, no I/O.

A fact's `key` names the fact itself, never the event that revealed it: a subscription is
canceled once (`subscription_canceled:sub_1`), an invoice's second failed attempt is one
fact (`payment_failed:in_1:2`) however many events (duplicates, `invoice.payment_failed`
and `invoice.updated` coalesced) or writers (the worker, a lifecycle operation, `paywire
sync`) see it. The outbox keeps one row per key.

Facts are read from the freshest state, not from the event's snapshot: an event is only a
hint that something may have happened. Where the state alone cannot tell (a trial reminder,
a failed attempt that left the invoice open), the event type is the hint and the state the
check, so a stale hint (the invoice has been paid since) makes no fact. Likewise a state
paywire never saw makes no fact: a subscription canceled before its first event was
processed never granted access here, so it gets `subscription_canceled` only.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

ACCESS_STATUSES = ("active", "trialing")


@dataclass(frozen=True)
class Fact:
    kind: str
    key: str
    user_id: str | None
    subject_id: str | None
    payload: dict[str, Any] = field(default_factory=dict)


def _id(value: Any) -> str | None:
    if isinstance(value, dict):
        found = value.get("id")
        return found if isinstance(found, str) else None
    return value if isinstance(value, str) else None


def subscription_facts(
    subscription: dict[str, Any],
    *,
    user_id: str | None,
    plan: str | None,
    interval: str | None,
    event_types: Collection[str] = (),
) -> list[Fact]:
    """Facts about a subscription in the state `subscription` (a full Stripe object)."""
    sub_id = subscription["id"]
    status = subscription.get("status")
    common = {
        "subscription_id": sub_id,
        "stripe_customer_id": _id(subscription.get("customer")),
        "plan": plan,
        "interval": interval,
        "status": status,
    }
    found: list[Fact] = []
    if status in ACCESS_STATUSES:
        # Once per subscription: the welcome, not every renewal.
        found.append(Fact("access_granted", f"access_granted:{sub_id}", user_id, sub_id, common))
    if status == "canceled":
        ended = {**common, "ended_at": subscription.get("ended_at")}
        found.append(Fact("subscription_canceled", f"subscription_canceled:{sub_id}", user_id, sub_id, ended))
    trial_end = subscription.get("trial_end")
    if "customer.subscription.trial_will_end" in event_types and status == "trialing" and trial_end:
        # Keyed by the trial's end: a trial extended to a new date gets its own reminder.
        found.append(
            Fact(
                "trial_will_end",
                f"trial_will_end:{sub_id}:{trial_end}",
                user_id,
                sub_id,
                {**common, "trial_end": trial_end},
            )
        )
    return found


def invoice_subscription(invoice: dict[str, Any]) -> str | None:
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return _id(details.get("subscription"))


def invoice_facts(invoice: dict[str, Any], *, user_id: str | None, event_types: Collection[str] = ()) -> list[Fact]:
    """Facts about an invoice in the state `invoice`. Only an invoice still open is owed:
    a failure or a pending authentication that has been paid or voided since is no news."""
    if invoice.get("status") != "open":
        return []
    invoice_id = invoice["id"]
    attempt = int(invoice.get("attempt_count") or 0)
    common = {
        "invoice_id": invoice_id,
        "subscription_id": invoice_subscription(invoice),
        "stripe_customer_id": _id(invoice.get("customer")),
        "amount_due": invoice.get("amount_due"),
        "amount_remaining": invoice.get("amount_remaining"),
        "currency": invoice.get("currency"),
        "hosted_invoice_url": invoice.get("hosted_invoice_url"),
        "attempt_count": attempt,
        "next_payment_attempt": invoice.get("next_payment_attempt"),
    }
    found: list[Fact] = []
    if "invoice.payment_failed" in event_types and attempt > 0:
        found.append(Fact("payment_failed", f"payment_failed:{invoice_id}:{attempt}", user_id, invoice_id, common))
    if "invoice.payment_action_required" in event_types:
        # Strong customer authentication: the customer must confirm on the hosted page.
        found.append(
            Fact(
                "payment_action_required",
                f"payment_action_required:{invoice_id}:{attempt}",
                user_id,
                invoice_id,
                common,
            )
        )
    return found


def pass_fulfilled(
    *,
    order_id: int,
    checkout_session_id: str,
    user_id: str,
    product: str,
    grants_plan: str | None,
    access_ends_at: int,
    amount_total: int | None,
    currency: str | None,
) -> Fact:
    return Fact(
        "pass_fulfilled",
        f"pass_fulfilled:{checkout_session_id}",
        user_id,
        checkout_session_id,
        {
            "order_id": order_id,
            "checkout_session_id": checkout_session_id,
            "product": product,
            "grants_plan": grants_plan,
            "access_ends_at": access_ends_at,
            "amount_total": amount_total,
            "currency": currency,
        },
    )


def refund_facts(refunds: list[dict[str, Any]], *, user_id: str | None) -> list[Fact]:
    """One fact per refund Stripe made or is making (by the refund's id): two partial
    refunds are two facts, even when one re-read sees both; one refund seen by two
    events is one."""
    found = []
    for refund in refunds:
        if refund.get("status") not in ("succeeded", "pending"):
            continue
        refund_id = refund["id"]
        found.append(
            Fact(
                "refund_issued",
                f"refund_issued:{refund_id}",
                user_id,
                refund_id,
                {
                    "refund_id": refund_id,
                    "charge_id": _id(refund.get("charge")),
                    "payment_intent_id": _id(refund.get("payment_intent")),
                    "amount_refunded": refund.get("amount"),
                    "currency": refund.get("currency"),
                },
            )
        )
    return found
