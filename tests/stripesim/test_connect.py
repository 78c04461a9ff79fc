"""stripesim's Connect as a platform meets it: events of connected accounts go to Connect
endpoints only, account links are single-use and expire to their refresh_url, and the money of
a destination charge moves as Stripe moves it (the fee out of the seller's share, refunds by
share, payouts paid or failed, transfers limited to what a charge holds)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import stripe

from tests.stripesim.shape_scenarios_connect import destination_charge, new_account, onboarded_account
from tests.stripesim.waiting import wait_until
from tests.stripesim.webhook_receiver import Receiver
from tests.support.stripesim import Sim


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def balance(c: stripe.StripeClient, account: str) -> tuple[int, int]:
    found = c.v1.balance.retrieve(options={"stripe_account": account})
    return found.available[0].amount, found.pending[0].amount


def test_connect_events_go_to_connect_endpoints_only(sim: Sim, receiver: Receiver) -> None:
    c = sim.client()
    made = []
    for path, connect in (("/platform", False), ("/connect", True)):
        events = ["account.updated", "transfer.created"]
        params = {"url": receiver.url + path, "enabled_events": events, "connect": connect}
        made.append(c.v1.webhook_endpoints.create(params=params))  # type: ignore[arg-type]
        receiver.secrets[path] = str(made[-1].secret)
    account = onboarded_account(c, sim)
    destination_charge(c, sim, account)

    wait_until(lambda: {d.path for d in receiver.deliveries} == {"/platform", "/connect"})
    wait_until(lambda: sim.get("webhooks/attempts")["pending"] == 0)
    for endpoint in made:
        c.v1.webhook_endpoints.delete(endpoint.id)
    by_path = {d.path: d.event for d in receiver.deliveries}
    assert by_path["/connect"] is not None and by_path["/connect"].type == "account.updated"
    assert by_path["/connect"]["account"] == account
    assert by_path["/platform"] is not None and by_path["/platform"].type == "transfer.created"
    assert "account" not in by_path["/platform"]
    assert [e.type for e in c.v1.events.list(options={"stripe_account": account}).data] == ["account.updated"]


def test_account_links_are_single_use_and_expire_to_their_refresh_url(sim: Sim) -> None:
    c = sim.client()
    account = new_account(c)
    use_case = {"type": "account_onboarding", "account_onboarding": {"refresh_url": "http://app.test/refresh"}}
    link = c.v2.core.account_links.create(params={"account": account.id, "use_case": use_case})  # type: ignore[typeddict-item]
    with httpx.Client(trust_env=False, timeout=30) as http:
        assert http.get(link.url).status_code == 200
        again = http.get(link.url)
        assert (again.status_code, again.headers["location"]) == (303, "http://app.test/refresh")
        sim.control("config", {"account_link_expires_s": -1})
        try:
            expired = c.v2.core.account_links.create(params={"account": account.id, "use_case": use_case})  # type: ignore[typeddict-item]
            assert http.get(expired.url).headers["location"] == "http://app.test/refresh"
        finally:
            sim.control("config", {"account_link_expires_s": 300})


def test_the_money_of_a_destination_charge(sim: Sim) -> None:
    c = sim.client()
    account = onboarded_account(c, sim)
    charge = destination_charge(c, sim, account, fee=1500)
    assert balance(c, account) == (0, 8500)  # Stripe's processing fee is the platform's

    c.v1.refunds.create(
        params={"charge": charge.id, "amount": 2500, "reverse_transfer": True, "refund_application_fee": True}
    )

    transfer = c.v1.transfers.retrieve(str(charge.transfer))
    fee = c.v1.application_fees.retrieve(str(charge.application_fee))
    assert (transfer.amount_reversed, fee.amount_refunded) == (2500, 375)
    assert balance(c, account) == (0, 8500 - 2500 + 375)
    with pytest.raises(stripe.InvalidRequestError, match="Insufficient funds in the source transaction"):
        c.v1.transfers.create(
            params={"amount": 1, "currency": "usd", "destination": account, "source_transaction": charge.id}
        )

    paid = sim.control(f"accounts/{account}/payouts", {"arrive": True})["payout"]
    assert (paid["amount"], paid["status"]) == (6375, "paid")
    assert balance(c, account) == (0, 0)

    failing = onboarded_account(c, sim, bank_account="000111111116")
    destination_charge(c, sim, failing)
    failed = sim.control(f"accounts/{failing}/payouts", {"arrive": True})["payout"]
    assert (failed["status"], failed["failure_code"]) == ("failed", "no_account")
    assert balance(c, failing) == (8500, 0)  # the money came back

    restricted = onboarded_account(c, sim, "requirements_due")
    with pytest.raises(stripe.InvalidRequestError, match="capabilities"):
        c.v1.transfers.create(params={"amount": 100, "currency": "usd", "destination": restricted})
