"""Marketplaces on Stripe Connect, end to end through the API, stripesim and the worker: what a
seller may do follows their account's state, Stripe's words become the seller's, money goes to
sellers by destination charges, separate transfers and subscriptions, refunds take back what
the platform's policy says, and a failed payout reaches the seller."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi import Depends, FastAPI
from sqlalchemy import select

import paywire
from paywire.catalog import Catalog, load_catalog
from paywire.db.models import ApplicationFee, ConnectTransfer, MarketplaceOrder, Seller
from paywire.web import require_seller
from paywire.web.auth import issue_token
from tests.paywire.billing.marketplace_support import Market
from tests.paywire.conftest import AUTH_SECRET, Service
from tests.paywire.events.conftest import wait_for
from tests.paywire.mailbox import Mailbox, mailbox  # noqa: F401 - the fixture
from tests.support.stripesim import Sim

DEFAULT = (Path(paywire.__file__).parent / "catalog" / "default.toml").read_text()
# The default catalog and a seller's plan: $50 a month, the platform keeping 10 %.
WITH_SELLERS_PLAN = (
    DEFAULT
    + """
[plans.mentoring]
name = "Mentoring"
rank = 10
features = ["mentoring"]
prices = { month = 5000 }
marketplace = true
fee_percent = 10
"""
)


@pytest.fixture
def catalog_file(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.toml"
    path.write_text(WITH_SELLERS_PLAN)
    return path


@pytest.fixture
def catalog(catalog_file: Path) -> Catalog:
    """What the service pushes and reads: the default catalog and a seller's plan."""
    return load_catalog(catalog_file)


@pytest.fixture
def market(make_paywire_service: Callable[..., Service], sim: Sim, catalog_file: Path) -> Market:
    return Market(make_paywire_service(PAYWIRE_CATALOG=str(catalog_file)), sim)


@pytest.fixture
def sellers_only(market: Market, serve_app: Callable[[FastAPI], httpx.Client]) -> httpx.Client:
    """A host app with a route for sellers who can sell (`require_seller()`)."""
    app = FastAPI()
    paywire.mount(app, market.service.settings)

    @app.get("/listings/new", dependencies=[Depends(require_seller())])
    def new_listing() -> dict[str, str]:
        return {"ok": "listing"}

    return serve_app(app)


def bearer(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(AUTH_SECRET, user, None)}"}


def test_a_seller_with_requirements_past_due_cannot_sell_and_is_told_what_to_fix(
    market: Market, sellers_only: httpx.Client
) -> None:
    assert sellers_only.get("/listings/new", headers=bearer("nobody")).json()["error"]["state"] == "none"
    market.become_seller("sam")
    onboarding = market.report("sam")["status"]
    assert (onboarding["state"], onboarding["can_sell"]) == ("onboarding", False)
    assert "a bank account for payouts" in onboarding["to_fix"]

    account = market.onboard("sam", "requirements_due")

    status = market.report("sam")["status"]
    assert status["headline"] == "Selling is paused: Stripe needs more information"
    assert status["to_fix"] == ["a photo ID (passport, driver's license or ID card)"]
    assert status["later"] == ["your home address"]
    refused = sellers_only.get("/listings/new", headers=bearer("sam"))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "seller_not_enabled"
    assert refused.json()["error"]["to_fix"] == status["to_fix"]
    bought = market.call("POST", "/api/checkout", "bea", {"product": "session-60", "seller": "sam"})
    assert bought.status_code == 409
    assert bought.json()["error"] == {
        "message": "This seller cannot sell right now: Selling is paused: Stripe needs more information.",
        "code": "seller_not_enabled",
        "field": "seller",
    }
    # The way to fix it: Stripe's page to update the account (a fresh link every time).
    first, second = (market.ok("POST", "/api/seller/onboarding", "sam")["url"] for _ in range(2))
    assert first != second

    due_by = int(time.time()) + 7 * 86400
    market.sim.control(f"accounts/{account}/onboard", {"outcome": "requirements_due", "deadline": due_by})
    wait_for("action required", lambda: market.state("sam") == "action_required")
    status = market.report("sam")["status"]
    assert (status["can_sell"], status["deadline"]) == (True, due_by)
    assert sellers_only.get("/listings/new", headers=bearer("sam")).json() == {"ok": "listing"}

    market.sim.control(f"accounts/{account}/onboard", {"outcome": "disabled"})
    wait_for("disabled", lambda: market.state("sam") == "disabled")
    assert market.report("sam")["status"]["to_fix"] == []
    assert sellers_only.get("/listings/new", headers=bearer("sam")).status_code == 403
    assert (
        market.call("POST", "/api/checkout", "sam", {"product": "session-60", "seller": "sam"}).json()["error"]["code"]
        == "own_product"
    )


def test_a_failed_payout_reaches_the_seller(
    make_paywire_service: Callable[..., Service],
    sim: Sim,
    catalog_file: Path,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    service = make_paywire_service(
        PAYWIRE_CATALOG=str(catalog_file),
        PAYWIRE_EMAIL_BACKEND="smtp",
        PAYWIRE_SMTP_HOST="127.0.0.1",
        PAYWIRE_SMTP_PORT=mailbox.port,
    )
    market = Market(service, sim)
    account = market.onboard("ola", bank_account="000111111116")
    market.buy("bo", {"product": "session-60", "seller": "ola"})
    market.wait_report("ola", "the sale", lambda r: r["balance"]["pending"].get("usd") == 8500)

    payout = sim.control(f"accounts/{account}/payouts", {"arrive": True})["payout"]

    failed = market.wait_report("ola", "the failed payout", lambda r: r["failed_payout"])["failed_payout"]
    assert (failed["id"], failed["amount"], failed["failure_code"]) == (payout["id"], 8500, "no_account")
    assert failed["failure_message"] == "The bank account number could not be found."
    [mail] = wait_for("the seller's mail", lambda: mailbox.received_by("ola@example.com"))
    assert (mail["subject"], mail["notice"]) == ("Your payout of 85.00 USD failed", "payout_failed")
    assert "The bank account number could not be found." in mailbox.text_of(mail["id"])
    report = market.report("ola")
    assert report["balance"]["available"]["usd"] == 8500  # the money came back


def test_one_order_pays_several_sellers_and_a_subscription_pays_its_seller(market: Market) -> None:
    market.onboard("ann")
    market.onboard("ben")
    session_id = market.buy(
        "cy", {"items": [{"product": "session-60", "seller": "ann"}, {"product": "session-60", "seller": "ben"}]}
    )

    for seller in ("ann", "ben"):
        report = market.wait_report(seller, f"{seller}'s sale", lambda r: r["sales"])
        [sale] = report["sales"]
        assert (sale["gross"], sale["fee"], sale["net"]) == (10000, 1500, 8500)
    with market.service.sessions() as session:
        order = session.scalar(select(MarketplaceOrder).where(MarketplaceOrder.checkout_session_id == session_id))
        assert order is not None and order.status == "paid_out" and len(order.transfers) == 2
        groups = set(session.scalars(select(ConnectTransfer.transfer_group)))
        assert groups == {order.transfer_group}
        assert session.scalar(select(ApplicationFee.id)) is None  # separate transfers keep the fee by transfer math

    market.buy("dee", {"plan": "mentoring", "interval": "month", "seller": "ann"})
    report = market.wait_report("ann", "the subscription's first payment", lambda r: len(r["sales"]) == 2)
    subscription_sale = next(s for s in report["sales"] if s["gross"] == 5000)
    assert (subscription_sale["fee"], subscription_sale["net"]) == (500, 4500)
    billing = market.ok("GET", "/api/billing", "dee")
    assert (billing["plan"], billing["access"]) == ("mentoring", True)
    switched = market.call("POST", "/api/subscription/change", "dee", {"plan": "pro", "interval": "month"})
    assert (switched.status_code, switched.json()["error"]["field"]) == (400, "plan")
    refused = market.call("POST", "/api/checkout", "eve", {"plan": "mentoring", "interval": "month"})
    assert (refused.status_code, refused.json()["error"]["field"]) == (400, "seller")


def test_a_refund_takes_back_what_the_policy_says(
    make_paywire_service: Callable[..., Service], sim: Sim, catalog_file: Path
) -> None:
    service = make_paywire_service(
        PAYWIRE_CATALOG=str(catalog_file),
        PAYWIRE_ADMIN_USERS="boss",
        PAYWIRE_CONNECT_REFUND_REFUNDS_FEE="false",
        PAYWIRE_CONNECT_ON_BEHALF_OF="true",
    )
    market = Market(service, sim)
    market.onboard("fay")
    market.ok("PUT", "/api/admin/sellers/fay/terms", "boss", {"fee_percent": "10", "fee_fixed": 100})
    market.buy("gus", {"product": "session-60", "seller": "fay"})
    [sale] = market.wait_report("fay", "the sale", lambda r: r["sales"])["sales"]
    assert (sale["gross"], sale["fee"], sale["net"]) == (10000, 1100, 8900)
    assert market.call("POST", f"/api/admin/sales/{sale['id']}/refund", "fay").status_code == 403

    refund = market.ok("POST", f"/api/admin/sales/{sale['id']}/refund", "boss", {"amount": 4000})

    assert refund["amount"] == 4000
    report = market.wait_report("fay", "the reversal", lambda r: r["sales"][0]["refunded"] == 4000)
    assert report["sales"][0]["fee"] == 1100  # the fee stays the platform's: PAYWIRE_CONNECT_REFUND_REFUNDS_FEE=false
    assert report["balance"]["pending"]["usd"] == 8900 - 4000
    with service.sessions() as session:
        seller = session.scalar(select(Seller).where(Seller.user_id == "fay"))
        assert seller is not None
        charge = market.sim.client().v1.charges.retrieve(str(report["sales"][0]["charge"]))
        assert charge.on_behalf_of == seller.id and charge.amount_refunded == 4000
