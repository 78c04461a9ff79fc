"""What the customer is told about each fact: subject and text, in billing words. Pure."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def _date(unix: Any) -> str:
    if not isinstance(unix, int):
        return "soon"
    return datetime.fromtimestamp(unix, UTC).strftime("%d %B %Y")


def _money(amount: Any, currency: Any) -> str:
    if not isinstance(amount, int):
        return "the amount due"
    return f"{amount / 100:.2f} {str(currency or '').upper()}".strip()


def notice(kind: str, payload: dict[str, Any]) -> tuple[str, str] | None:
    """(subject, body) for a fact, or None if the customer is not told about this kind."""
    plan = payload.get("plan") or payload.get("grants_plan") or "your plan"
    if kind == "access_granted":
        return f"Welcome to {plan}", f"Your {plan} subscription is active. Thank you!"
    if kind == "subscription_canceled":
        return "Your subscription has ended", f"Your {plan} subscription is canceled. You can subscribe again any time."
    if kind == "trial_will_end":
        return (
            "Your trial ends soon",
            f"Your {plan} trial ends on {_date(payload.get('trial_end'))}. Your subscription continues after it.",
        )
    if kind == "payment_failed":
        return (
            "Your payment failed",
            f"We could not charge {_money(payload.get('amount_due'), payload.get('currency'))}. "
            f"Please update your card: {payload.get('hosted_invoice_url') or 'see your billing page'}",
        )
    if kind == "payment_action_required":
        return (
            "Please confirm your payment",
            "Your bank asks you to confirm a payment of "
            f"{_money(payload.get('amount_due'), payload.get('currency'))}: "
            f"{payload.get('hosted_invoice_url') or 'see your billing page'}",
        )
    if kind == "pass_fulfilled":
        return (
            "Your pass is ready",
            f"Your {payload.get('product')} gives you {plan} until {_date(payload.get('access_ends_at'))}.",
        )
    if kind == "refund_issued":
        return (
            "Your refund is on its way",
            f"We refunded {_money(payload.get('amount_refunded'), payload.get('currency'))}.",
        )
    return None
