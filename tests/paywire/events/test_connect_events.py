"""Connect events (those of sellers' connected accounts, `account` set) through the real receiver
and worker: delivered twice, out of order and by both endpoints (each signs with its own secret),
they change nothing twice; a live event at a test-mode service is recorded and never applied; and
when deliveries are lost, the recovery scan and `paywire sync` cover the connected accounts."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import select, update

from paywire.catalog import Catalog
from paywire.db.models import OutboxFact, Payout, Seller, WebhookEvent
from paywire.events.recovery import recover_events
from paywire.reconcile.resources import SyncContext
from paywire.reconcile.sync import sync_mirror
from paywire.stripe import StripeGateway
from tests.paywire.billing.marketplace_support import Market
from tests.paywire.conftest import Service
from tests.paywire.events.conftest import inbox_drained, post_webhook, sign, wait_for
from tests.support.stripesim import TEST_KEY, Sim


def connect_endpoint(sim: Sim, service: Service) -> str:
    """The id of the service's Connect endpoint in stripesim."""
    for endpoint in sim.client().v1.webhook_endpoints.list(params={"limit": 100}).data:
        if endpoint.url == f"{service.url}/webhooks/stripe?connect=1":
            return str(endpoint.id)
    raise AssertionError("the service has no Connect endpoint")


def account_events(sim: Sim, account: str) -> list[dict[str, Any]]:
    """The connected account's events as Stripe keeps them (its `Stripe-Account`), oldest first."""
    answer = httpx.get(
        f"{sim.url}/v1/events",
        params={"limit": 100},
        headers={"authorization": f"Bearer {TEST_KEY}", "stripe-account": account},
        trust_env=False,
        timeout=30,
    )
    return list(reversed(answer.json()["data"]))


def deliver(service: Service, event: dict[str, Any], *, endpoint: str) -> httpx.Response:
    """`event` as one of Stripe's endpoints delivers it: signed with that endpoint's secret."""
    settings = service.settings
    secrets = settings.stripe_connect_webhook_secrets if endpoint == "connect" else settings.stripe_webhook_secrets
    payload = json.dumps(event).encode()
    answer = post_webhook(service, payload, sign(payload, secrets[0].get_secret_value()))
    assert answer.status_code == 200, answer.text
    return answer


def seller_of(service: Service, user: str) -> Seller:
    with service.sessions() as session:
        found = session.scalar(select(Seller).where(Seller.user_id == user))
        assert found is not None
        session.expunge(found)
        return found


def test_connect_events_twice_out_of_order_and_on_both_endpoints_change_nothing_twice(
    make_paywire_service: Callable[..., Service], sim: Sim
) -> None:
    service = make_paywire_service(PAYWIRE_RECOVERY_INTERVAL="0")
    sim.client().v1.webhook_endpoints.update(connect_endpoint(sim, service), params={"disabled": True})
    market = Market(service, sim)
    account = market.become_seller("sal")
    sim.control(f"accounts/{account}/onboard", {"outcome": "requirements_due"})
    sim.control(f"accounts/{account}/onboard", {"outcome": "enabled", "bank_account": "000111111116"})
    restricted, enabled = account_events(sim, account)
    assert (restricted["type"], enabled["type"]) == ("account.updated", "account.updated")

    # The newer state first, the older one after; each twice, and once more by the other endpoint.
    answers = [
        deliver(service, event, endpoint=side)
        for event in (enabled, restricted)
        for side in ("connect", "connect", "platform")
    ]
    assert [a.json().get("duplicate", False) for a in answers] == [False, True, True] * 2
    wait_for("the account events applied", lambda: inbox_drained(service))
    assert market.state("sal") == "enabled", "an older event re-reads the account: it cannot take it back"

    market.buy("bob", {"product": "session-60", "seller": "sal"})
    market.wait_report("sal", "the sale", lambda r: r["sales"])
    sim.control(f"accounts/{account}/payouts", {"arrive": True})
    money_events = [e for e in account_events(sim, account) if e["type"] != "account.updated"]
    assert {e["type"] for e in money_events} == {"balance.available", "payout.created", "payout.failed"}
    for event in reversed(money_events):
        for side in ("connect", "platform", "connect"):
            deliver(service, event, endpoint=side)
    wait_for("the payout events applied", lambda: inbox_drained(service))

    report = market.report("sal")
    assert report["failed_payout"]["failure_code"] == "no_account"
    assert report["balance"] == {"available": {"usd": 8500}, "pending": {"usd": 0}}
    with service.sessions() as session:
        ids = [e["id"] for e in (restricted, enabled, *money_events)]
        stored = session.scalars(select(WebhookEvent.id).where(WebhookEvent.id.in_(ids))).all()
        assert sorted(stored) == sorted(ids), "each event stored once, whichever endpoint brought it"
        facts = session.scalars(select(OutboxFact.dedup_key).where(OutboxFact.kind == "payout_failed")).all()
        assert len(facts) == 1
        assert len(session.scalars(select(Payout.id)).all()) == 1

    live = {**enabled, "id": enabled["id"] + "live", "livemode": True}
    deliver(service, live, endpoint="connect")
    wait_for("the live event recorded", lambda: _state_of(service, live["id"]) == "livemode_mismatch")


def _state_of(service: Service, event_id: str) -> str | None:
    with service.sessions() as session:
        row = session.get(WebhookEvent, event_id)
        return row.state if row is not None else None


def test_recovery_and_sync_cover_connected_accounts(
    make_paywire_service: Callable[..., Service], sim: Sim, gateway: StripeGateway, catalog: Catalog
) -> None:
    service = make_paywire_service(PAYWIRE_RECOVERY_INTERVAL="0")
    market = Market(service, sim)
    account = market.onboard("rita")
    market.buy("ron", {"product": "session-60", "seller": "rita"})
    market.wait_report("rita", "the sale", lambda r: r["sales"])
    sim.client().v1.webhook_endpoints.update(connect_endpoint(sim, service), params={"disabled": True})
    sim.control(f"accounts/{account}/payouts", {"arrive": True})
    sim.control(f"accounts/{account}/onboard", {"outcome": "requirements_due"})
    lost = [e["id"] for e in account_events(sim, account)][-4:]  # never delivered

    scan = recover_events(
        service.sessions, gateway, since=int(time.time()) - 3600, expected_livemode=False, overlap=60, lookback=3600
    )

    assert scan.connected_accounts == 1 and scan.stored >= len(lost)
    wait_for("the recovered events applied", lambda: market.state("rita") == "restricted")
    wait_for("the payout", lambda: market.report("rita")["payouts"])
    # Every recovered event worked off before the tampering: a late one would repair the rows.
    wait_for("the recovered events all applied", lambda: inbox_drained(service))

    with service.sessions() as session:
        session.execute(update(Seller).where(Seller.id == account).values(transfers="active", requirements=[]))
        session.query(Payout).delete()
        session.commit()
    ctx = SyncContext(service.sessions, gateway, catalog, service.settings)

    report = sync_mirror(ctx, resources=["sellers"])

    [drift] = report.drift
    assert (drift.object_id, drift.action) == (account, "updated")
    assert {c.field for c in drift.changes} >= {"transfers", "requirements", "payouts"}
    assert market.state("rita") == "restricted" and market.report("rita")["payouts"][0]["status"] == "paid"
    assert sync_mirror(ctx, resources=["sellers"]).drift == []
