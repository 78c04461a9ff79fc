"""A seller's state in words: what Stripe says about their connected account, as the seller
should read it, and whether they may sell. Pure (from the mirrored row).

The states, and what decides them (the capability to receive transfers is what a destination
charge needs; card payments too when sales are made `on_behalf_of` the seller):

| state | when | may sell |
|---|---|---|
| `onboarding` | Stripe still needs what onboarding collects | no |
| `disabled` | Stripe rejected the account (`rejected_*`) | no, nothing to fix here |
| `restricted` | requirements are past due: capabilities are restricted until they are given | no |
| `pending` | Stripe is checking what was given | no |
| `action_required` | requirements are currently due, by a deadline, capabilities still active | yes, until then |
| `enabled` | nothing due now (maybe later: `eventually_due`) | yes |

Payouts paused (the payouts capability not active while sales are) is said apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from paywire.db.models import Seller

# Stripe's requirement ids, as a person reads them. Longer prefixes first (`individual.dob.day`
# is the date of birth).
REQUIREMENT_WORDS: tuple[tuple[str, str], ...] = (
    ("individual.verification.additional_document", "a document proving your address"),
    ("individual.verification.document", "a photo ID (passport, driver's license or ID card)"),
    ("individual.first_name", "your first name"),
    ("individual.last_name", "your last name"),
    ("individual.dob", "your date of birth"),
    ("individual.ssn_last_4", "the last 4 digits of your Social Security number"),
    ("individual.id_number", "your ID number"),
    ("individual.address", "your home address"),
    ("individual.email", "your email address"),
    ("individual.phone", "your phone number"),
    ("external_account", "a bank account for payouts"),
    ("tos_acceptance", "your acceptance of Stripe's services agreement"),
    ("business_profile.url", "your website or a description of what you sell"),
    ("business_profile.mcc", "what kind of business you run"),
    ("business_profile.product_description", "a description of what you sell"),
    ("business_type", "your type of business"),
    ("company", "details of your company"),
    ("representative", "details of your company's representative"),
)
DISABLED_WORDS = {
    "rejected_fraud": "Stripe closed this account because of suspected fraud.",
    "rejected_terms_of_service": "Stripe closed this account for a breach of its terms of service.",
    "rejected_listed": "Stripe closed this account: the business is on a prohibited list.",
    "rejected_incomplete_verification": "Stripe closed this account: verification could not be completed.",
    "rejected_platform_fraud": "This account was closed by the marketplace.",
    "rejected_platform_other": "This account was closed by the marketplace.",
    "rejected_platform_terms_of_service": "This account was closed by the marketplace for a breach of its terms.",
    "unsupported_country": "Stripe cannot support an account in this country.",
    "unsupported_business": "Stripe cannot support this type of business.",
}
PAUSED_WORDS = {
    "requirements_past_due": "Stripe needs more information",
    "requirements_pending_verification": "Stripe is checking your information",
    "restricted_other": "Stripe restricted the account",
}


def requirement_words(name: str | None) -> str:
    """One of Stripe's requirement ids (`individual.verification.document`) in words."""
    if not name:
        return "some information"
    for prefix, words in REQUIREMENT_WORDS:
        if name == prefix or name.startswith(prefix + "."):
            return words
    return name.replace(".", " ").replace("_", " ")


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def day(unix: int | None) -> str:
    if unix is None:
        return ""
    moment = datetime.fromtimestamp(unix, UTC)
    return f"{moment.day} {moment:%B %Y}"


@dataclass(frozen=True)
class SellerStatus:
    state: str
    can_sell: bool
    headline: str
    detail: str
    # What Stripe asks for, in words: now (currently due or past due), and later (eventually due).
    to_fix: list[str] = field(default_factory=list)
    later: list[str] = field(default_factory=list)
    deadline: int | None = None
    payouts_paused: bool = False
    # Whether an onboarding link (Stripe's hosted page) is the way to fix it.
    fix_with_stripe: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "can_sell": self.can_sell,
            "headline": self.headline,
            "detail": self.detail,
            "to_fix": self.to_fix,
            "later": self.later,
            "deadline": self.deadline,
            "payouts_paused": self.payouts_paused,
        }


NOT_A_SELLER = SellerStatus(
    "none", False, "You are not selling yet", "Set up payouts with Stripe to start selling.", fix_with_stripe=True
)


def status_of(seller: Seller | None, *, needs_card_payments: bool = False) -> SellerStatus:
    """The seller's state in words. `needs_card_payments`: sales are made on the seller's behalf
    (`on_behalf_of`), so card payments must be active too."""
    if seller is None:
        return NOT_A_SELLER
    requirements = seller.requirements or []
    now_due = _unique([requirement_words(r.get("name")) for r in requirements if r.get("status") != "eventually_due"])
    later = _unique([requirement_words(r.get("name")) for r in requirements if r.get("status") == "eventually_due"])
    onboarding = any(r.get("reason") == "routine_onboarding" for r in requirements)
    wanted = [seller.transfers] + ([seller.card_payments] if needs_card_payments else [])
    active = all(status == "active" for status in wanted)
    payouts_paused = active and seller.payouts not in (None, "active")
    reason = seller.disabled_reason or ""
    if any(status in ("rejected", "unsupported") for status in (seller.transfers, seller.card_payments)):
        detail = DISABLED_WORDS.get(reason, "Stripe closed this account for payments.")
        return SellerStatus("disabled", False, "Selling is closed", f"{detail} Contact us if you think this is wrong.")
    if onboarding and not active:
        return SellerStatus(
            "onboarding",
            False,
            "Finish setting up payouts",
            "Stripe needs a few details before you can sell: " + ", ".join(now_due) + ".",
            to_fix=now_due,
            later=later,
            fix_with_stripe=True,
        )
    if not active:
        if reason == "requirements_pending_verification" or any(s == "pending" for s in wanted):
            return SellerStatus(
                "pending",
                False,
                "Stripe is checking your details",
                "You can sell as soon as Stripe has verified what you sent; this usually takes minutes.",
            )
        what = ", ".join(now_due) or "more information"
        return SellerStatus(
            "restricted",
            False,
            "Selling is paused: Stripe needs more information",
            f"{PAUSED_WORDS.get(reason, 'Stripe needs more information')}. Provide {what} to sell again.",
            to_fix=now_due,
            later=later,
            deadline=seller.deadline,
            payouts_paused=seller.payouts not in (None, "active"),
            fix_with_stripe=True,
        )
    if now_due:
        by = f" by {day(seller.deadline)}" if seller.deadline else ""
        return SellerStatus(
            "action_required",
            True,
            f"Action required{by}",
            f"Stripe needs {', '.join(now_due)}{by}, or selling will pause.",
            to_fix=now_due,
            later=later,
            deadline=seller.deadline,
            payouts_paused=payouts_paused,
            fix_with_stripe=True,
        )
    detail = "Your account is ready: buyers can pay you."
    if later:
        detail += " Stripe will later ask for " + ", ".join(later) + "."
    if payouts_paused:
        detail += " Payouts are paused until Stripe has what it needs."
    return SellerStatus(
        "enabled", True, "You can sell", detail, later=later, payouts_paused=payouts_paused, fix_with_stripe=bool(later)
    )
