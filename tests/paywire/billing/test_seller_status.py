"""A seller's state in words, from what the mirror keeps of their connected account (pure)."""

from __future__ import annotations

from typing import Any

from paywire.billing.seller_status import NOT_A_SELLER, requirement_words, status_of
from paywire.db.models import Seller

ACTIVE = {"card_payments": "active", "transfers": "active", "payouts": "active"}


def seller(**fields: Any) -> Seller:
    values: dict[str, Any] = {
        "id": "acct_1",
        "user_id": "u",
        "requirements": [],
        "disabled_reason": None,
        "deadline": None,
    }
    values.update(fields)
    return Seller(**values)


def due(name: str, status: str, reason: str = "routine_verification") -> dict[str, str]:
    return {"name": name, "status": status, "reason": reason}


def test_each_state_in_words() -> None:
    assert status_of(None) is NOT_A_SELLER and not NOT_A_SELLER.can_sell
    onboarding = status_of(
        seller(
            card_payments="restricted",
            transfers="restricted",
            payouts="restricted",
            disabled_reason="requirements_past_due",
            requirements=[
                due("individual.dob.day", "past_due", "routine_onboarding"),
                due("external_account", "past_due", "routine_onboarding"),
            ],
        )
    )
    assert (onboarding.state, onboarding.can_sell) == ("onboarding", False)
    assert onboarding.to_fix == ["your date of birth", "a bank account for payouts"]

    restricted = status_of(
        seller(
            card_payments="restricted",
            transfers="restricted",
            payouts="restricted",
            disabled_reason="requirements_past_due",
            requirements=[
                due("individual.verification.document", "past_due"),
                due("individual.address.line1", "eventually_due"),
            ],
        )
    )
    assert (restricted.state, restricted.can_sell, restricted.later) == ("restricted", False, ["your home address"])
    assert restricted.detail == (
        "Stripe needs more information. Provide a photo ID (passport, driver's license or ID card) to sell again."
    )

    soon = status_of(
        seller(
            **ACTIVE, deadline=1_800_000_000, requirements=[due("individual.verification.document", "currently_due")]
        )
    )
    assert (soon.state, soon.can_sell, soon.headline) == ("action_required", True, "Action required by 15 January 2027")

    closed = status_of(
        seller(card_payments="rejected", transfers="rejected", payouts="rejected", disabled_reason="rejected_fraud")
    )
    assert (closed.state, closed.can_sell, closed.to_fix) == ("disabled", False, [])
    assert closed.detail.startswith("Stripe closed this account because of suspected fraud.")

    checking = status_of(seller(card_payments="pending", transfers="pending", payouts="pending"))
    assert (checking.state, checking.can_sell) == ("pending", False)

    fine = status_of(seller(**{**ACTIVE, "payouts": "restricted"}))
    assert (fine.state, fine.can_sell, fine.payouts_paused) == ("enabled", True, True)


def test_sales_on_the_sellers_behalf_also_need_card_payments() -> None:
    transfers_only = seller(card_payments="restricted", transfers="active", payouts="active")
    assert status_of(transfers_only).can_sell
    assert not status_of(transfers_only, needs_card_payments=True).can_sell


def test_stripes_requirement_ids_in_words() -> None:
    assert requirement_words("individual.dob.year") == "your date of birth"
    assert requirement_words("tos_acceptance.ip") == "your acceptance of Stripe's services agreement"
    assert requirement_words("company.tax_id") == "details of your company"
    assert requirement_words("settings.payments.statement_descriptor") == "settings payments statement descriptor"
