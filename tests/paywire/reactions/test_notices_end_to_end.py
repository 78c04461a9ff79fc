"""Reactions end to end: stripesim's events (duplicated, reordered), the real service and
worker, and a real SMTP server (aiosmtpd). Each business fact is mailed once, whatever the
number of events describing it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from paywire.billing.customers import get_or_create_customer
from paywire.db.models import OutboxFact, utcnow
from paywire.stripe import StripeGateway
from tests.paywire.conftest import Service
from tests.paywire.events.conftest import Shop, deliveries_settled, inbox_drained, inbox_rows, wait_for
from tests.paywire.mailbox import Mailbox
from tests.support.stripesim import Sim


@pytest.fixture
def mailing_service(make_paywire_service: Callable[..., Service], mailbox: Mailbox) -> Service:
    return make_paywire_service(
        PAYWIRE_EMAIL_BACKEND="smtp", PAYWIRE_SMTP_HOST="127.0.0.1", PAYWIRE_SMTP_PORT=mailbox.port
    )


def facts_about(service: Service, subject_id: str) -> list[OutboxFact]:
    with service.sessions() as session:
        return list(
            session.scalars(select(OutboxFact).where(OutboxFact.subject_id == subject_id).order_by(OutboxFact.id))
        )


def quiet(service: Service, sim: Sim) -> bool:
    """Every delivery made, every event processed, every fact due now reacted to (a reminder
    waits for its time)."""
    if not (deliveries_settled(sim) and inbox_drained(service)):
        return False
    with service.sessions() as session:
        due = select(OutboxFact.id).where(OutboxFact.state == "pending", OutboxFact.next_attempt_at <= utcnow())
        return session.scalars(due).first() is None


def test_duplicated_and_reordered_events_grant_access_once_and_mail_the_welcome_once(
    mailing_service: Service, sim: Sim, mailbox: Mailbox
) -> None:
    sim.control("faults", {"webhooks": {"duplicate_rate": 1.0, "reorder_window_ms": 300}})
    shop = Shop(mailing_service, sim, "user_welcome")
    session_id = shop.checkout({"plan": "pro", "interval": "month"})
    assert shop.pay(session_id).status_code == 200
    wait_for("access", lambda: shop.billing()["access"])
    wait_for("everything worked off", lambda: quiet(mailing_service, sim), timeout=60)

    subscription_id = sim.client().v1.checkout.sessions.retrieve(session_id).subscription
    assert isinstance(subscription_id, str)
    # Two events describe the start of this subscription (and each came twice).
    describing = {r.type for r in inbox_rows(mailing_service, state="processed")} & {
        "checkout.session.completed",
        "customer.subscription.created",
    }
    assert describing == {"checkout.session.completed", "customer.subscription.created"}
    [granted] = facts_about(mailing_service, subscription_id)
    assert (granted.kind, granted.state, granted.user_id) == ("access_granted", "done", "user_welcome")
    [welcome, receipt] = mailbox.subjects_to("user_welcome@example.com")
    assert welcome == "Welcome to Pro"
    assert receipt.startswith("Your receipt from paywire"), "the first invoice's receipt"
    # The receipt links Stripe's receipt of the charge, asked of Stripe as the mail was sent.
    [mailed] = [m for m in mailbox.received_by("user_welcome@example.com") if m["notice"] == "receipt"]
    client = sim.client()
    invoice = client.v1.subscriptions.retrieve(subscription_id).latest_invoice
    assert isinstance(invoice, str)
    payments = client.v1.invoice_payments.list(
        params={"invoice": invoice, "expand": ["data.payment.payment_intent.latest_charge"]}
    )
    [link] = {p["payment"]["payment_intent"]["latest_charge"]["receipt_url"] for p in payments.data}
    assert link and f"Receipt: {link}" in mailbox.text_of(mailed["id"])


def paywire_customer(service: Service, sim: Sim, user_id: str, payment_method: str) -> str:
    gateway = StripeGateway.from_settings(service.settings)
    with service.sessions() as session:
        customer = get_or_create_customer(session, gateway, user_id=user_id, email=f"{user_id}@example.com")
        session.commit()
    client = sim.client()
    method = client.v1.payment_methods.attach(payment_method, params={"customer": customer.stripe_customer_id})
    client.v1.customers.update(
        customer.stripe_customer_id, params={"invoice_settings": {"default_payment_method": method.id}}
    )
    return customer.stripe_customer_id


@pytest.mark.parametrize(
    ("payment_method", "kind", "subject"),
    [
        ("pm_card_chargeDeclined", "payment_failed", "Payment failed: please update your card"),
        ("pm_card_authenticationRequired", "payment_action_required", "Please confirm your payment"),
    ],
)
def test_a_failed_or_unauthenticated_first_payment_is_told_once(
    mailing_service: Service, sim: Sim, mailbox: Mailbox, payment_method: str, kind: str, subject: str
) -> None:
    sim.control("faults", {"webhooks": {"duplicate_rate": 0.5}})
    user = f"user_{kind}"
    customer_id = paywire_customer(mailing_service, sim, user, payment_method)
    [price] = sim.client().v1.prices.list(params={"lookup_keys": ["basic_month"]}).data
    created = sim.client().v1.subscriptions.create(
        params={"customer": customer_id, "items": [{"price": price.id}], "payment_behavior": "allow_incomplete"}
    )
    invoice_id = created.latest_invoice
    assert isinstance(invoice_id, str)
    wait_for("everything worked off", lambda: quiet(mailing_service, sim) and facts_about(mailing_service, invoice_id))

    told, *reminder = facts_about(mailing_service, invoice_id)
    assert (told.kind, told.dedup_key, told.state) == (kind, f"{kind}:{invoice_id}:1", "done")
    if kind == "payment_action_required":  # reminded once, later, if still unconfirmed then
        assert [(r.kind, r.state) for r in reminder] == [("payment_action_reminder", "pending")]
    assert told.payload["hosted_invoice_url"]
    assert mailbox.subjects_to(f"{user}@example.com") == [subject]
    assert not facts_about(mailing_service, created.id), "an incomplete subscription grants nothing"


def test_a_canceled_subscription_and_its_refund_are_told_once_each(
    mailing_service: Service, sim: Sim, mailbox: Mailbox
) -> None:
    shop = Shop(mailing_service, sim, "user_leaving")
    session_id = shop.checkout({"plan": "basic", "interval": "month"})
    assert shop.pay(session_id).status_code == 200
    wait_for("access", lambda: shop.billing()["access"])
    client = sim.client()
    subscription_id = client.v1.checkout.sessions.retrieve(session_id).subscription
    assert isinstance(subscription_id, str)
    invoice = client.v1.invoices.list(params={"subscription": subscription_id}).data[0]
    [payment] = client.v1.invoice_payments.list(params={"invoice": invoice.id}).data
    intent = payment.payment.payment_intent
    sim.control("faults", {"webhooks": {"duplicate_rate": 1.0}})

    client.v1.subscriptions.cancel(subscription_id)
    client.v1.refunds.create(params={"payment_intent": intent, "amount": 100})
    client.v1.refunds.create(params={"payment_intent": intent})
    wait_for("everything worked off", lambda: quiet(mailing_service, sim) and len(mailbox.messages) >= 5, timeout=60)

    kinds = sorted(f.kind for f in _user_facts(mailing_service, "user_leaving"))
    assert kinds == ["access_granted", "receipt", "refund_issued", "refund_issued", "subscription_canceled"]
    refunds = sorted(
        f.payload["amount_refunded"] for f in _user_facts(mailing_service, "user_leaving") if f.kind == "refund_issued"
    )
    assert refunds == [100, invoice.amount_paid - 100], "two refunds, two facts"
    received = mailbox.subjects_to("user_leaving@example.com")
    assert [s for s in received if not s.startswith("Your receipt")] == sorted(
        [
            "Welcome to Basic",
            "Your subscription has ended",
            "Your refund of 1.00 USD is on its way",
            f"Your refund of {(invoice.amount_paid - 100) / 100:.2f} USD is on its way",
        ]
    )


def _user_facts(service: Service, user_id: str) -> list[OutboxFact]:
    with service.sessions() as session:
        return list(session.scalars(select(OutboxFact).where(OutboxFact.user_id == user_id).order_by(OutboxFact.id)))
