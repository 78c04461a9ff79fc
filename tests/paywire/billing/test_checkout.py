from __future__ import annotations

from typing import Any

import pytest
import stripe
from sqlalchemy.orm import Session

from paywire.billing.checkout import (
    CheckoutStarted,
    PurchaseChoice,
    SubscriptionChoice,
    choose,
    start_checkout,
)
from paywire.billing.errors import (
    AlreadySubscribed,
    IntervalNotOffered,
    InvalidChoice,
    InvalidQuantity,
    PlanNotFound,
    ProductNotFound,
)
from paywire.billing.prices import PriceBook
from paywire.catalog import Catalog
from paywire.config import Settings, load_settings
from paywire.db.repositories import customers, orders
from paywire.stripe import Kind, StripeGateway
from tests.paywire.factories import mirror_subscription


def test_a_plan_choice(catalog: Catalog) -> None:
    choice = choose(catalog, plan="pro", interval="year", quantity=5)
    assert isinstance(choice, SubscriptionChoice)
    assert (choice.plan.key, choice.interval, choice.quantity) == ("pro", "year", 5)
    assert choose(catalog, plan="basic", interval="month").quantity == 1  # type: ignore[union-attr]


def test_a_product_choice(catalog: Catalog) -> None:
    choice = choose(catalog, product="pass-3-months")
    assert isinstance(choice, PurchaseChoice) and choice.product.grants_plan == "basic"


@pytest.mark.parametrize(
    ("request_", "error", "field"),
    [
        ({"plan": "gold", "interval": "month"}, PlanNotFound, "plan"),
        ({}, PlanNotFound, "plan"),
        ({"product": "lifetime"}, ProductNotFound, "product"),
        ({"plan": "pro", "product": "pass-3-months"}, InvalidChoice, "product"),
        ({"plan": "pro"}, IntervalNotOffered, "interval"),
        ({"plan": "pro", "interval": "week"}, IntervalNotOffered, "interval"),
        ({"plan": "pro", "interval": "month", "quantity": 0}, InvalidQuantity, "quantity"),
        ({"plan": "pro", "interval": "month", "quantity": -2}, InvalidQuantity, "quantity"),
        ({"plan": "pro", "interval": "month", "quantity": 101}, InvalidQuantity, "quantity"),
        ({"plan": "basic", "interval": "month", "quantity": 2}, InvalidQuantity, "quantity"),
        ({"product": "pass-3-months", "quantity": 2}, InvalidChoice, "quantity"),
        ({"product": "pass-3-months", "interval": "month"}, InvalidChoice, "interval"),
    ],
)
def test_invalid_choices(catalog: Catalog, request_: dict[str, Any], error: type[Exception], field: str) -> None:
    with pytest.raises(error) as raised:
        choose(catalog, **request_)
    assert raised.value.field == field  # type: ignore[attr-defined]


def _settings(**overrides: Any) -> Settings:
    return load_settings(_env_file=None, STRIPE_SECRET_KEY="sk_test_paywire_test_suite_key", **overrides)


def test_a_live_subscription_refuses_a_second_checkout_before_touching_stripe(
    session: Session,
    catalog: Catalog,
    gateway: StripeGateway,
    stripe_client: stripe.StripeClient,
) -> None:
    mirror_subscription(session, "u1", plan="basic", status="past_due")
    for choice in (
        choose(catalog, plan="pro", interval="month"),
        choose(catalog, product="pass-3-months"),
    ):
        with pytest.raises(AlreadySubscribed, match="portal"):
            start_checkout(
                session,
                gateway,
                PriceBook(catalog, gateway),
                _settings(),
                user_id="u1",
                email=None,
                choice=choice,
            )
    assert stripe_client.v1.customers.list().data == []


class RecordingGateway:
    """Stands in for the Stripe adapter: records the Checkout requests it is asked for."""

    livemode = False

    def __init__(self) -> None:
        self.checkouts: list[dict[str, Any]] = []
        self.open: list[str] = []
        self.statuses: dict[str, str] = {}  # what Stripe says of each session now
        self.by_key: dict[str, str] = {}  # idempotency key -> the session it made

    def create_customer(self, **kwargs: Any) -> dict[str, Any]:
        return {"id": f"cus_{kwargs['user_id']}"}

    def list_subscriptions_of_customer(self, customer_id: str) -> list[dict[str, Any]]:
        return []

    def create_checkout_session(self, params: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        self.checkouts.append({**params, "idempotency_key": idempotency_key})
        if idempotency_key in self.by_key:  # Stripe replays the first answer, as it was then
            replayed = self.by_key[idempotency_key]
            return {"id": replayed, "url": f"https://checkout.example/{replayed}", "status": "open"}
        session_id = self.by_key[idempotency_key] = f"cs_{len(self.checkouts)}"
        self.statuses[session_id] = "open"
        if params["mode"] == "subscription":
            self.open.append(session_id)
        return {"id": session_id, "url": f"https://checkout.example/{session_id}", "status": "open"}

    def retrieve(self, kind: Kind, object_id: str) -> dict[str, Any]:
        assert kind is Kind.CHECKOUT_SESSION
        status = self.statuses[object_id]
        return {
            "id": object_id,
            "status": status,
            "url": f"https://checkout.example/{object_id}" if status == "open" else None,
        }

    def list_open_checkout_sessions(self, customer_id: str) -> list[dict[str, Any]]:
        return [{"id": session_id, "mode": "subscription"} for session_id in self.open]

    def expire_checkout_session(self, session_id: str, *, idempotency_key: str) -> None:
        self.open.remove(session_id)


class FixedPrices:
    def price_id_for(self, lookup_key: str) -> str:
        return f"price_{lookup_key}"


def _start(session: Session, gateway: RecordingGateway, settings: Settings, choice: Any) -> CheckoutStarted:
    return start_checkout(
        session,
        gateway,
        FixedPrices(),
        settings,  # type: ignore[arg-type]
        user_id="u1",
        email="u1@x.io",
        choice=choice,
        now=1_000_000,
    )


def test_a_trial_is_offered_only_to_who_never_had_one(session: Session, catalog: Catalog) -> None:
    gateway = RecordingGateway()
    settings = _settings(PAYWIRE_TRIAL_DAYS=14)
    pro = choose(catalog, plan="pro", interval="month", quantity=2)
    _start(session, gateway, settings, pro)
    assert gateway.checkouts[-1]["subscription_data"]["trial_period_days"] == 14

    customers.mark_trial_used(session, "u1")
    session.commit()
    _start(session, gateway, settings, pro)
    assert "trial_period_days" not in gateway.checkouts[-1]["subscription_data"]


def test_a_past_trial_in_the_mirror_also_counts(session: Session, catalog: Catalog) -> None:
    gateway = RecordingGateway()
    mirror_subscription(session, "u1", plan="basic", status="canceled", trial_start=1)
    _start(
        session,
        gateway,
        _settings(PAYWIRE_TRIAL_DAYS=14),
        choose(catalog, plan="pro", interval="month"),
    )
    assert "trial_period_days" not in gateway.checkouts[-1]["subscription_data"]


def test_checkout_requests_come_from_the_catalog_and_settings(session: Session, catalog: Catalog) -> None:
    gateway = RecordingGateway()
    settings = _settings(APP_URL="https://app.example.com", PAYWIRE_AUTOMATIC_TAX=True)
    _start(session, gateway, settings, choose(catalog, plan="pro", interval="year", quantity=4))
    sent = gateway.checkouts[-1]
    assert sent["line_items"] == [{"price": "price_pro_year", "quantity": 4}]
    assert sent["customer"] == "cus_u1" and sent["client_reference_id"] == "u1"
    assert sent["metadata"]["user_id"] == "u1" and sent["subscription_data"]["metadata"]["user_id"] == "u1"
    assert sent["automatic_tax"] == {"enabled": True}
    assert sent["success_url"].startswith("https://app.example.com/")
    assert "{CHECKOUT_SESSION_ID}" in sent["success_url"]
    assert sent["idempotency_key"].startswith("checkout:u1:pro:year:4:")


def test_the_same_request_in_the_same_window_has_the_same_key(session: Session, catalog: Catalog) -> None:
    gateway = RecordingGateway()
    pro = choose(catalog, plan="pro", interval="month")
    _start(session, gateway, _settings(), pro)
    _start(session, gateway, _settings(), pro)
    _start(session, gateway, _settings(), choose(catalog, plan="pro", interval="month", quantity=2))
    keys = [c["idempotency_key"] for c in gateway.checkouts]
    assert keys[0] == keys[1] != keys[2]


def test_buying_the_pass_opens_a_pending_order(session: Session, catalog: Catalog) -> None:
    gateway = RecordingGateway()
    _start(session, gateway, _settings(), choose(catalog, product="pass-3-months"))
    order = orders.find_by_checkout_session(session, "cs_1")
    assert order is not None
    assert (order.status, order.product, order.grants_plan, order.user_id) == (
        "pending",
        "pass-3-months",
        "basic",
        "u1",
    )
    assert gateway.checkouts[-1]["line_items"] == [{"price": "price_pass-3-months", "quantity": 1}]


def test_buying_again_is_a_new_checkout_and_a_retried_click_the_same(session: Session, catalog: Catalog) -> None:
    gateway, settings = RecordingGateway(), _settings()
    pass_ = choose(catalog, product="pass-3-months")
    first = _start(session, gateway, settings, pass_)
    assert _start(session, gateway, settings, pass_).session_id == first.session_id  # still open: the same
    assert len(gateway.checkouts) == 1, "an open purchase is found again without asking Stripe for a session"
    assert gateway.checkouts[0]["idempotency_key"] == "checkout:u1:pass-3-months:once:first:price_pass-3-months"

    gateway.statuses[first.session_id] = "complete"  # paid; the webhook has not come yet
    second = _start(session, gateway, settings, pass_)
    again = _start(session, gateway, settings, pass_)

    assert second.session_id != first.session_id and again.session_id == second.session_id
    assert gateway.checkouts[-1]["idempotency_key"].endswith(f":once:{first.session_id}:price_pass-3-months")
    gateway.statuses[second.session_id] = "expired"
    third = _start(session, gateway, settings, pass_)
    assert third.session_id not in (first.session_id, second.session_id), "an expired one is not reopened either"
    placed = [o.checkout_session_id for o in orders.for_user(session, "u1")]
    assert sorted(placed) == sorted({first.session_id, second.session_id, third.session_id})


def test_a_replayed_finished_purchase_is_bought_after(session: Session, catalog: Catalog) -> None:
    """The mirror lost the newest order: Stripe replays its finished session for the key; the
    next purchase comes after it instead."""
    gateway, settings = RecordingGateway(), _settings()
    pass_ = choose(catalog, product="pass-3-months")
    first = _start(session, gateway, settings, pass_)
    gateway.statuses[first.session_id] = "complete"
    second = _start(session, gateway, settings, pass_)
    gateway.statuses[second.session_id] = "complete"
    lost = orders.find_by_checkout_session(session, second.session_id)
    session.delete(lost)
    session.commit()
    # The order of `second` is gone, but the first's is known: the key after it replays `second`.
    gateway.statuses[second.session_id] = "complete"
    third = _start(session, gateway, settings, pass_)
    assert third.session_id not in (first.session_id, second.session_id)


def test_the_purchase_asks_for_an_invoice_and_keeps_the_card(session: Session, catalog: Catalog) -> None:
    gateway = RecordingGateway()
    _start(session, gateway, _settings(), choose(catalog, product="pass-3-months"))
    sent = gateway.checkouts[-1]
    metadata = {"user_id": "u1", "product": "pass-3-months"}
    assert sent["invoice_creation"] == {
        "enabled": True,
        "invoice_data": {"metadata": metadata, "description": "3-month Basic pass"},
    }
    assert sent["payment_intent_data"]["setup_future_usage"] == "on_session"
    assert sent["payment_intent_data"]["metadata"] == metadata
