"""Which notice a fact gets, if any: its kind (the `X-Paywire-Notice` header), the template
that words it, and the attempt it is about. Pure: the settings come in as a `NoticePolicy`.

The dunning sequence is read from the invoice as Stripe left it: `attempt_count` is the
attempt that failed, `next_payment_attempt` when Stripe tries again (None: no try left). By
default attempt 1 gets "payment failed, update your card", attempt 2 a second notice, and the
failure after which one try remains (`last`) the final warning with the date access ends;
the failure of the last try itself says nothing here: the end of the subscription does
(`subscription_canceled`, or `access_paused` when Stripe leaves it unpaid).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from paywire.config import DEFAULT_DUNNING_NOTICES, Settings

# Fact kind → (notice kind, template), for facts told the same way every time.
SIMPLE = {
    "access_granted": ("access_granted", "access_granted"),
    "subscription_canceled": ("subscription_canceled", "subscription_canceled"),
    "access_paused": ("access_paused", "access_paused"),
    "trial_will_end": ("trial_will_end", "trial_will_end"),
    "trial_ended": ("trial_ended", "trial_ended"),
    "payment_action_required": ("payment_action_required", "payment_action_required"),
    "payment_action_reminder": ("payment_action_required", "payment_action_reminder"),
    "payment_recovered": ("payment_recovered", "payment_recovered"),
    "receipt": ("receipt", "receipt"),
    "refund_issued": ("refund", "refund"),
    "pass_fulfilled": ("pass_fulfilled", "pass_fulfilled"),
    "usage_threshold": ("usage_threshold", "usage_threshold"),  # a soft limit's 80 % and 100 % (paywire.usage)
    "payout_failed": ("payout_failed", "payout_failed"),  # a seller's bank refused a payout (Connect)
}
# The notice kinds Stripe can send itself (`PAYWIRE_STRIPE_EMAILS`), and what each covers.
STRIPE_SENDS = {
    "payment_failed": ("payment_failed", "final_notice"),
    "payment_action_required": ("payment_action_required",),
    "trial_will_end": ("trial_will_end",),
    "receipt": ("receipt",),
    "refund": ("refund",),
}


@dataclass(frozen=True)
class NoticePolicy:
    """What the settings say about notices."""

    dunning_attempts: int = 8
    dunning_notices: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_DUNNING_NOTICES))
    dunning_end: str = "cancel"
    stripe_emails: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> NoticePolicy:
        return cls(
            dunning_attempts=settings.dunning_attempts,
            dunning_notices=dict(settings.dunning_notices),
            dunning_end=settings.dunning_end,
            stripe_emails=tuple(settings.stripe_emails),
        )

    def sent_by_stripe(self, notice_kind: str) -> bool:
        return any(notice_kind in STRIPE_SENDS[kind] for kind in self.stripe_emails)

    def dunning_template(self, attempt: int, retry_left: bool) -> str | None:
        """The template for the failure of `attempt`; None when that failure is not told."""
        if not retry_left or attempt <= 0:
            return None
        if attempt == self.dunning_attempts - 1 and "last" in self.dunning_notices:
            return self.dunning_notices["last"]
        return self.dunning_notices.get(str(attempt))


@dataclass(frozen=True)
class Notice:
    kind: str  # X-Paywire-Notice
    template: str
    attempt: int | None = None  # X-Paywire-Attempt, on dunning notices


def notice_for(kind: str, payload: dict[str, Any], policy: NoticePolicy) -> Notice | str:
    """The notice a fact gets, or why it gets none (a note for the reaction's record)."""
    if kind == "payment_failed" and payload.get("billing_reason") == "subscription_create":
        # A first payment: no retries follow (the subscription waits, `incomplete`).
        notice = Notice("payment_failed", "payment_failed", int(payload.get("attempt_count") or 1))
    elif kind == "payment_failed":
        attempt = int(payload.get("attempt_count") or 0)
        template = policy.dunning_template(attempt, bool(payload.get("next_payment_attempt")))
        if template is None:
            return f"no notice for attempt {attempt}"
        notice = Notice("final_notice" if template == "final_notice" else "payment_failed", template, attempt)
    elif kind in SIMPLE:
        notice_kind, template = SIMPLE[kind]
        told = payload.get("attempt_count") if kind in ("payment_action_required", "payment_recovered") else None
        notice = Notice(notice_kind, template, int(told) if told else None)
    else:
        return f"{kind}: nothing to tell"
    if policy.sent_by_stripe(notice.kind):
        return f"{notice.kind}: Stripe sends it (PAYWIRE_STRIPE_EMAILS)"
    return notice
