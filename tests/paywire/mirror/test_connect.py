"""The mirror's transfers to sellers, and the sale a seller's report makes of each: what the buyer
paid, what the platform keeps, what reaches the seller, whatever order the events come in."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from paywire.billing.sellers import seller_report
from paywire.config import load_settings
from paywire.db.models import Seller
from paywire.mirror import connect as mirrored
from paywire.mirror import read_version
from tests.support.stripesim import TEST_KEY

ACCOUNT = "acct_1Seller"


def destination_charge(amount: int, fee: int | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A charge that pays its seller by `transfer_data`, and the transfer it made: the whole amount."""
    charge = {
        "id": "ch_1Dest",
        "amount": amount,
        "application_fee_amount": fee,
        "transfer": "tr_1Dest",
        "payment_intent": "pi_1Dest",
        "metadata": {"product": "mentoring", "user_id": "dee"},
    }
    transfer = {
        "id": "tr_1Dest",
        "destination": ACCOUNT,
        "amount": amount,
        "amount_reversed": 0,
        "currency": "usd",
        "source_transaction": "ch_1Dest",
        "transfer_group": None,
        "metadata": {},
        "created": 1_790_000_000,
    }
    return charge, transfer


def separate_transfer(gross: int, fee: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A multi-seller order's charge, and one of the transfers made from it: the seller's share."""
    charge = {"id": "ch_1Order", "amount": 2 * gross, "transfer": None, "payment_intent": "pi_1Order", "metadata": {}}
    transfer = {
        "id": "tr_1Share",
        "destination": ACCOUNT,
        "amount": gross - fee,
        "amount_reversed": 0,
        "currency": "usd",
        "source_transaction": "ch_1Order",
        "transfer_group": "order_1",
        "metadata": {"gross": str(gross), "platform_fee": str(fee), "product": "session-60", "buyer_user_id": "cy"},
        "created": 1_790_000_000,
    }
    return charge, transfer


def test_a_destination_charges_fee_is_its_application_fee_amount() -> None:
    charge, transfer = destination_charge(5000, 500)
    values = mirrored.transfer_values(transfer, charge)
    assert (values["gross"], values["platform_fee"], values["product"]) == (5000, 500, "mentoring")
    charge["application_fee_amount"] = None
    assert mirrored.transfer_values(transfer, charge)["platform_fee"] is None


def test_a_separate_transfers_sale_is_in_its_own_metadata() -> None:
    charge, transfer = separate_transfer(10000, 1500)
    values = mirrored.transfer_values(transfer, charge)
    assert (values["gross"], values["platform_fee"], values["buyer_user_id"]) == (10000, 1500, "cy")


def report_sales(session: Session) -> list[dict[str, Any]]:
    seller = session.get(Seller, ACCOUNT)
    assert seller is not None
    settings = load_settings(_env_file=None, STRIPE_SECRET_KEY=TEST_KEY)
    return list(seller_report(session, seller, settings)["sales"])


def test_a_sale_shows_the_platforms_fee_before_the_fee_itself_is_mirrored(session: Session) -> None:
    """The transfer of a destination charge comes before `application_fee.created`: the sale
    already shows the fee the charge carries, never the whole amount as the seller's."""
    session.add(Seller(id=ACCOUNT, user_id="ann", requirements=[]))
    charge, transfer = destination_charge(5000, 500)
    assert mirrored.write_transfer(session, transfer, charge, version=read_version())
    session.commit()
    [sale] = report_sales(session)
    assert (sale["gross"], sale["fee"], sale["net"]) == (5000, 500, 4500)

    fee = {"id": "fee_1", "account": ACCOUNT, "charge": "ch_1Dest", "amount": 500, "currency": "usd", "created": 1}
    assert mirrored.write_fee(session, {**fee, "amount_refunded": 200}, version=read_version())
    reversed_transfer = {**transfer, "amount_reversed": 2000}
    assert mirrored.write_transfer(session, reversed_transfer, charge, version=read_version())
    session.commit()
    [sale] = report_sales(session)
    # A refund of 2,000 that gave back 200 of the fee: the seller keeps 5,000 - 2,000 - 300.
    assert (sale["gross"], sale["fee"], sale["refunded"], sale["net"]) == (5000, 300, 2000, 2700)


def test_a_separate_transfers_sale_keeps_the_fee_by_transfer_math(session: Session) -> None:
    session.add(Seller(id=ACCOUNT, user_id="ben", requirements=[]))
    charge, transfer = separate_transfer(10000, 1500)
    assert mirrored.write_transfer(session, transfer, charge, version=read_version())
    session.commit()
    [sale] = report_sales(session)
    assert (sale["gross"], sale["fee"], sale["net"]) == (10000, 1500, 8500)
