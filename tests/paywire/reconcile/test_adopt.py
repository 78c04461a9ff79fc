"""Adopting an existing Stripe account (`paywire sync --adopt`): customers linked to the users
their `metadata.user_id` names or, with `--adopt-by-email`, to the one user with their email;
every customer not linked reported with why; never one customer for two users, nor two
customers for one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import stripe
from sqlalchemy import select
from sqlalchemy.orm import Session

from paywire.catalog import Catalog
from paywire.db.models import Customer, Subscription
from paywire.db.repositories import customers
from paywire.reconcile.adoption import Adoption, Candidate, Users, adopt_page, candidate
from paywire.reconcile.resources import SyncContext
from paywire.reconcile.sync import sync_mirror
from paywire.stripe import StripeGateway
from tests.paywire.conftest import Service
from tests.paywire.events.recovery_support import run_paywire
from tests.paywire.reconcile.test_sync import pro_month_price
from tests.support.stripesim import TEST_KEY, Sim

USERS = Users.of(
    [
        ("u_named", "named@example.com"),
        ("u_email", "Only.One@Example.com"),
        ("u_twin_a", "twins@example.com"),
        ("u_twin_b", "twins@example.com"),
        ("u_taken", "taken@example.com"),
    ]
)


def test_who_a_customer_is_for() -> None:
    by_email = Adoption(by_email=True, users=USERS)
    assert candidate({"metadata": {"user_id": "u_named"}}, by_email) == Candidate("u_named", "metadata.user_id")
    assert candidate({"metadata": {}, "email": " only.one@example.com "}, by_email) == Candidate("u_email", "email")
    assert candidate({"metadata": {}, "email": "twins@example.com"}, by_email).refused == "2 users have this email"
    assert candidate({"metadata": {}, "email": "nobody@example.com"}, by_email).refused == "no user has this email"
    assert candidate({"metadata": {}, "email": None}, by_email).refused == "no metadata.user_id and no email"
    assert candidate({"metadata": {"user_id": "u_ghost"}}, by_email).refused == (
        "names user u_ghost, who is not in the users file"
    )
    metadata_only = Adoption()
    assert candidate({"metadata": {"user_id": "u_anyone"}}, metadata_only).user_id == "u_anyone"
    assert candidate({"metadata": {}, "email": "named@example.com"}, metadata_only).refused.startswith(
        "no metadata.user_id"
    )


def test_a_users_file_is_read_with_or_without_its_header(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text("user_id,email\nu1,one@example.com\nu2,\n\nu3,three@example.com\n")
    users = Users.from_csv(path)
    assert users.emails == {"u1": "one@example.com", "u2": None, "u3": "three@example.com"}
    path.write_text("u1,one@example.com\n")
    assert Users.from_csv(path).emails == {"u1": "one@example.com"}


def customer(client: stripe.StripeClient, email: str | None, user_id: str | None = None, price: str = "") -> str:
    params: dict[str, Any] = {"metadata": {"user_id": user_id} if user_id else {}}
    if email:
        params["email"] = email
    found = client.v1.customers.create(params=params)
    if price:
        client.v1.subscriptions.create(
            params={"customer": found.id, "items": [{"price": price}], "trial_period_days": 14}
        )
    return str(found.id)


def links(service: Service) -> dict[str, str]:
    with service.sessions() as session:
        return {row.stripe_customer_id: row.user_id for row in session.scalars(select(Customer))}


def test_adopt_links_each_customer_at_most_once_and_reports_the_rest(
    make_paywire_service: Callable[..., Service], sim: Sim, catalog: Catalog
) -> None:
    service = make_paywire_service(with_worker=False)
    client = sim.client()
    price = pro_month_price(client)
    named = customer(client, "named@example.com", "u_named", price)
    by_email = customer(client, "only.one@example.com", price=price)
    twins = customer(client, "twins@example.com")
    nobody = customer(client, "nobody@example.com")
    ghost = customer(client, None, "u_ghost")
    taken_first = customer(client, "taken@example.com", "u_taken")
    taken_again = customer(client, "taken-too@example.com", "u_taken")  # listed first: newest
    told: list[str] = []
    ctx = SyncContext(
        service.sessions,
        StripeGateway(TEST_KEY, api_base=sim.url, max_network_retries=0),
        catalog,
        service.settings,
        adoption=Adoption(by_email=True, users=USERS),
    )

    report = sync_mirror(ctx, page_size=3, on_drift=lambda drift: told.append(str(drift)))

    assert links(service) == {named: "u_named", by_email: "u_email", taken_again: "u_taken"}
    said = "\n".join(told)
    assert f"customer {named}: not linked to a user (user u_named by metadata.user_id) [linked to user u_named" in said
    assert "[linked to user u_email (email)]" in said
    assert f"customer {twins}: not linked to a user [kept: 2 users have this email]" in said
    assert f"customer {nobody}: not linked to a user [kept: no user has this email]" in said
    assert f"customer {ghost}: not linked to a user [kept: names user u_ghost, who is not in the users file]" in said
    assert f"customer {taken_first}: " in said and f"[kept: user u_taken already has customer {taken_again}]" in said
    customers_part = next(part for part in report.resources if part.name == "customers")
    assert customers_part.drifted == {"unlinked": 7} and customers_part.kept == 4
    with service.sessions() as session:
        owners = {row.stripe_customer_id: row.user_id for row in session.scalars(select(Subscription))}
    assert owners == {named: "u_named", by_email: "u_email"}, "the adopted customers' subscriptions are theirs"

    again = sync_mirror(ctx, page_size=3, on_drift=lambda drift: None)
    assert links(service) == {named: "u_named", by_email: "u_email", taken_again: "u_taken"}, "nothing moves"
    assert next(part for part in again.resources if part.name == "customers").drifted == {"unlinked": 4}


def test_paywire_sync_adopt_from_the_command_line(
    make_paywire_service: Callable[..., Service], sim: Sim, tmp_path: Path
) -> None:
    service = make_paywire_service(with_worker=False)
    client = sim.client()
    named = customer(client, "a@example.com", "user_a")
    by_email = customer(client, "b@example.com")
    users = tmp_path / "users.csv"
    users.write_text("user_id,email\nuser_a,a@example.com\nuser_b,b@example.com\n")

    dry = run_paywire(service, sim, "sync", "--dry-run", "--adopt", "--adopt-by-email", "--users", str(users))
    assert dry.returncode == 1, dry.stdout + dry.stderr
    assert (
        f"customer {named}: " in dry.stdout and "[would link, unless user user_a has a customer already]" in dry.stdout
    )
    assert links(service) == {}

    done = run_paywire(service, sim, "sync", "--adopt", "--adopt-by-email", "--users", str(users))
    assert done.returncode == 0, done.stdout + done.stderr
    assert links(service) == {named: "user_a", by_email: "user_b"}

    refused = run_paywire(service, sim, "sync", "--adopt-by-email")
    assert refused.returncode == 2 and "--adopt-by-email and --users go with --adopt" in refused.stderr
    needs_users = run_paywire(service, sim, "sync", "--adopt", "--adopt-by-email")
    assert needs_users.returncode == 2 and "needs --users FILE" in needs_users.stderr


def test_a_page_is_adopted_in_order_as_one_by_one(session: Session) -> None:
    """`adopt_page`: the page's users looked up together and its links inserted together, yet
    each customer is told what one-by-one adoption would tell it: the first customer naming a
    user gets them, a later one of the same page is kept, a user linked before keeps their
    customer, and a customer linked meanwhile by someone else is reported as such."""
    customers.add_customer(session, user_id="u_taken", stripe_customer_id="cus_before", email=None)
    customers.add_customer(session, user_id="u_checkout", stripe_customer_id="cus_meanwhile", email=None)
    session.commit()
    page = [
        {"id": "cus_first", "metadata": {"user_id": "u_named"}, "email": "first@example.com"},
        {"id": "cus_second", "metadata": {"user_id": "u_named"}, "email": None},
        {"id": "cus_taken", "metadata": {"user_id": "u_taken"}},
        {"id": "cus_email", "metadata": {}, "email": "Only.One@example.com", "test_clock": "clock_1"},
        {"id": "cus_twins", "metadata": {}, "email": "twins@example.com"},
        {"id": "cus_late", "metadata": {"user_id": "u_email"}},
    ]

    actions = adopt_page(session, page, Adoption(by_email=True, users=USERS))
    session.commit()

    assert actions == [
        "linked to user u_named (metadata.user_id)",
        "kept: user u_named already has customer cus_first",
        "kept: user u_taken already has customer cus_before",
        "linked to user u_email (email)",
        "kept: 2 users have this email",
        "kept: user u_email already has customer cus_email",
    ]
    assert links_of(session) == {
        "cus_before": "u_taken",
        "cus_meanwhile": "u_checkout",
        "cus_first": "u_named",
        "cus_email": "u_email",
    }
    linked = session.scalar(select(Customer).where(Customer.stripe_customer_id == "cus_email"))
    assert linked is not None and linked.test_clock_id == "clock_1" and linked.email == "Only.One@example.com"

    # Listed unlinked, linked to another user by a checkout before the repair: not linked twice.
    raced = adopt_page(session, [{"id": "cus_meanwhile", "metadata": {"user_id": "u_fresh"}}], Adoption())
    assert raced == ["kept: user u_fresh or this customer was linked meanwhile"]
    assert links_of(session)["cus_meanwhile"] == "u_checkout"


def links_of(session: Session) -> dict[str, str]:
    return {row.stripe_customer_id: row.user_id for row in session.scalars(select(Customer))}
