"""What the Connect handlers' tests share: a seller of this platform for a fixture's account."""

from __future__ import annotations

from paywire.db.models import Seller
from paywire.db.repositories import sellers
from tests.paywire.events.handlers.harness import Handling


def seller_for(handling: Handling, account_id: str, user_id: str = "user_seller") -> Seller:
    """The seller row paywire makes when a user becomes a seller."""
    return sellers.add(
        handling.session,
        user_id=user_id,
        account_id=account_id,
        email=f"{user_id}@example.com",
        display_name=user_id,
        livemode=False,
    )


def seller_row(handling: Handling, account_id: str) -> Seller:
    handling.session.expire_all()
    found = sellers.find(handling.session, account_id)
    assert found is not None, f"no seller for {account_id}"
    return found
