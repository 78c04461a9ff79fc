"""`account.updated`: captured when a seller finished hosted onboarding (stripesim's outcome
`enabled`). The account is read again as Accounts v2 shows it and the seller's state written
under the version rule; requirements are kept by Stripe's ids, for the words the seller reads."""

from __future__ import annotations

from paywire.billing.seller_status import status_of
from paywire.db.repositories import sellers
from paywire.mirror import read_version
from tests.paywire.events.handlers.connect_support import seller_for, seller_row
from tests.paywire.events.handlers.harness import Handling


def test_an_onboarded_account_makes_its_seller_able_to_sell_once(handling: Handling) -> None:
    fixture = handling.load("account.updated")
    seller_for(handling, fixture.object_id, "user_fixture_seller")

    handling.handle(fixture.event)
    [again] = handling.handle(fixture.redelivered())

    row = seller_row(handling, fixture.object_id)
    assert (row.transfers, row.card_payments, row.payouts, row.requirements) == ("active", "active", "active", [])
    assert status_of(row).can_sell and status_of(row).state == "enabled"
    assert again == f"{fixture.object_id} seller user_fixture_seller: enabled"
    assert handling.facts() == []


def test_an_account_paywire_made_before_its_row_committed_gets_its_row(handling: Handling) -> None:
    fixture = handling.load("account.updated")

    handling.handle(fixture.event)

    assert seller_row(handling, fixture.object_id).user_id == "user_fixture_seller"


def test_requirements_past_due_pause_selling_and_say_what_to_give(handling: Handling) -> None:
    fixture = handling.load("account.updated")
    seller_for(handling, fixture.object_id)
    restricted = {
        "status": "restricted",
        "status_details": [{"code": "requirements_past_due", "resolution": "provide_info"}],
    }
    account = handling.stripe.connect.held("account")
    configuration = account["configuration"]
    configuration["merchant"]["capabilities"]["card_payments"] = restricted
    configuration["recipient"]["capabilities"]["stripe_balance"] = {
        "payouts": restricted,
        "stripe_transfers": restricted,
    }
    due = {"status": "past_due"}
    document = {
        "awaiting_action_from": "user",
        "description": "individual.verification.document",
        "errors": [],
        "impact": {"restricts_capabilities": []},
        "minimum_deadline": due,
        "requested_reasons": [{"code": "routine_verification"}],
    }
    handling.stripe.connect.change(
        "account",
        fixture.object_id,
        configuration=configuration,
        requirements={"entries": [document], "summary": {"minimum_deadline": due}},
    )

    handling.handle(fixture.event)

    status = status_of(seller_row(handling, fixture.object_id))
    assert (status.state, status.can_sell) == ("restricted", False)
    assert status.to_fix == ["a photo ID (passport, driver's license or ID card)"]
    assert "Provide a photo ID" in status.detail


def test_a_newer_state_is_never_overwritten_by_an_older_read(handling: Handling) -> None:
    fixture = handling.load("account.updated")
    seller = seller_for(handling, fixture.object_id)
    seller.transfers, seller.stripe_version = "rejected", read_version() + 60_000_000
    handling.session.commit()

    handling.handle(fixture.event)

    assert seller_row(handling, fixture.object_id).transfers == "rejected"


def test_an_account_of_nobody_here_is_left_alone(handling: Handling) -> None:
    fixture = handling.load("account.updated")
    handling.stripe.connect.change("account", fixture.object_id, metadata={})

    [note] = handling.handle(fixture.event)

    assert note == f"{fixture.object_id}: not a seller of this platform"
    assert sellers.find(handling.session, fixture.object_id) is None
