"""`among` / `not_among` (`paywire.db.membership`): the rows `IN` / `NOT IN` would give, on each
database, for no values, one, and a page's worth; on PostgreSQL one statement text whatever the
number of values (what lets the driver and the server parse it once)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from paywire.db.membership import among, not_among
from paywire.db.models import Customer
from paywire.db.repositories import customers

STORED = [f"cus_m{n:03}" for n in range(150)]


@pytest.fixture
def stored(session: Session) -> list[str]:
    customers.add_customers(session, [{"user_id": f"u_m{n:03}", "stripe_customer_id": c} for n, c in enumerate(STORED)])
    session.commit()
    return STORED


@pytest.mark.parametrize("size", [0, 1, 7, 120])
def test_the_rows_of_in_and_not_in(session: Session, stored: list[str], size: int) -> None:
    # Every other stored id, and as many that are not stored.
    wanted = [*stored[::2][:size], *(f"cus_absent{n}" for n in range(size))]
    inside = set(
        session.scalars(select(Customer.stripe_customer_id).where(among(session, Customer.stripe_customer_id, wanted)))
    )
    outside = set(
        session.scalars(
            select(Customer.stripe_customer_id).where(not_among(session, Customer.stripe_customer_id, wanted))
        )
    )
    assert inside == set(stored) & set(wanted)
    assert outside == set(stored) - set(wanted)


def test_postgresql_gets_one_statement_whatever_the_number_of_values(session: Session, database_backend: str) -> None:
    def text(values: list[str]) -> str:
        query = select(Customer.id).where(among(session, Customer.stripe_customer_id, values))
        return str(query.compile(bind=session.get_bind()))

    if database_backend == "postgresql":
        assert text(["cus_1"]) == text([f"cus_{n}" for n in range(100)])
        assert "ANY" in text(["cus_1"])
    else:
        assert " IN " in text(["cus_1"])
