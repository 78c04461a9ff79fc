"""Disputes end to end, on a test clock: a renewal paid with Stripe's dispute card
(4000000000000259) is disputed; the team is mailed once and the metric counts it; the deadline
reminders come 3 days and 1 day before the deadline, in the clock's time; the evidence draft
holds the receipt, the terms accepted at checkout, the access log and the prior payment; it is
submitted once; the bank decides it lost (stripesim's control), which ends the subscription and
is counted."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from paywire.db.models import Dispute
from paywire.stripe import StripeGateway
from paywire.timetravel import Travel, advance
from tests.paywire.conftest import Service
from tests.paywire.events.conftest import Shop, metric, wait_for
from tests.paywire.mailbox import Mailbox
from tests.support.stripesim import Sim

ADMIN = "admin_disputes"
TEAM = "team@example.com"
DISPUTE_CARD = "pm_card_createDispute"
DAY = 86_400


@pytest.fixture
def service(make_paywire_service: Callable[..., Service], mailbox: Mailbox) -> Service:
    return make_paywire_service(
        PAYWIRE_ADMIN_USERS=ADMIN,
        PAYWIRE_TEAM_EMAIL=TEAM,
        **mailbox.settings(),
        PAYWIRE_TEST_CLOCKS="true",
        PAYWIRE_RECOVERY_INTERVAL=0,
    )


def travel(service: Service, user_id: str, to: int) -> Travel:
    return advance(
        service.settings, service.sessions, StripeGateway.from_settings(service.settings), user_id=user_id, to=to
    )


def admin(service: Service, method: str, path: str, **kwargs: Any) -> httpx.Response:
    with service.http() as http:
        return http.request(method, f"/api/admin{path}", headers=service.headers_for(ADMIN), **kwargs)


def the_dispute(service: Service) -> Dispute | None:
    with service.sessions() as session:
        return session.scalar(select(Dispute))


def team_mails(mailbox: Mailbox, notice: str) -> list[str]:
    return [m["subject"] for m in mailbox.received_by(TEAM) if m["notice"] == notice]


def subscribe_then_dispute_the_renewal(service: Service, sim: Sim, user_id: str) -> tuple[Shop, str, Dispute]:
    """A Pro subscriber paid their first invoice with 4242; the renewal is charged to the dispute
    card, and the customer's bank disputes it (60 s later in the clock's time). Returns the
    shop, the first invoice and the mirrored dispute."""
    shop = Shop(service, sim, user_id)
    session_id = shop.checkout({"plan": "pro", "interval": "month"})
    assert shop.pay(session_id).status_code == 200
    wait_for("access", lambda: shop.billing()["access"])
    c = sim.client()
    subscription = c.v1.subscriptions.retrieve(str(c.v1.checkout.sessions.retrieve(session_id).subscription))
    disputing = c.v1.payment_methods.attach(DISPUTE_CARD, params={"customer": str(subscription.customer)})
    c.v1.subscriptions.update(subscription.id, params={"default_payment_method": disputing.id})
    first_invoice = str(subscription.latest_invoice)
    period_end = int(subscription["items"].data[0].current_period_end)
    travel(service, user_id, period_end + 2 * 3600)
    dispute = wait_for("the dispute mirrored", lambda: the_dispute(service))
    return shop, first_invoice, dispute


def test_a_dispute_is_alerted_reminded_answered_once_and_lost(service: Service, sim: Sim, mailbox: Mailbox) -> None:
    alerts_before = metric(service, "paywire_dispute_alerts_total", kind="dispute_opened")
    shop, first_invoice, dispute = subscribe_then_dispute_the_renewal(service, sim, "disputer")
    assert (dispute.status, dispute.reason, dispute.amount, dispute.user_id) == (
        "needs_response",
        "fraudulent",
        1000,
        "disputer",
    )
    assert (
        dispute.payment_id is not None and dispute.payment_id.startswith("in_") and dispute.payment_id != first_invoice
    )
    opened, due = dispute.stripe_created, int(dispute.evidence_due_by or 0)
    assert due == opened + 7 * DAY

    wait_for("the team's alert", lambda: team_mails(mailbox, "team_dispute_opened"))
    [alert] = team_mails(mailbox, "team_dispute_opened")
    assert alert.startswith("Dispute opened: 10.00 USD (fraudulent), evidence due ")
    wait_for(
        "the alert counted once",
        lambda: metric(service, "paywire_dispute_alerts_total", kind="dispute_opened") == alerts_before + 1,
    )
    wait_for("the open dispute's gauge", lambda: metric(service, "paywire_disputes_open") == 1)  # refreshed every 10 s
    listed = admin(service, "GET", "/disputes").json()["data"]
    assert [(d["id"], d["due_by"]) for d in listed] == [(dispute.id, due)]

    # The reminders, in the clock's time: none until 3 days before the deadline.
    travel(service, "disputer", due - 3 * DAY - 3600)
    assert team_mails(mailbox, "team_dispute_reminder") == []
    travel(service, "disputer", due - 3 * DAY + 60)
    wait_for("the 3-day reminder", lambda: team_mails(mailbox, "team_dispute_reminder"))
    assert [s.split(":")[1].strip() for s in team_mails(mailbox, "team_dispute_reminder")] == [
        f"evidence due in 3 days ({_day(due)})"
    ]
    travel(service, "disputer", due - DAY + 60)
    wait_for("the 1-day reminder", lambda: len(team_mails(mailbox, "team_dispute_reminder")) == 2)
    assert team_mails(mailbox, "team_dispute_reminder")[1].endswith(f"evidence due in 1 day ({_day(due)})")

    # The draft, from what paywire knows.
    drafted = admin(service, "GET", f"/disputes/{dispute.id}")
    assert drafted.status_code == 200, drafted.text
    fields = drafted.json()["evidence"]["fields"]
    receipts = [m["id"] for m in mailbox.received_by("disputer@example.com") if m["notice"] == "receipt"]
    assert len(receipts) == 2, "the first invoice's receipt and the renewal's"
    assert fields["customer_email_address"] == "disputer@example.com"
    assert fields["customer_purchase_ip"] == "127.0.0.1"
    assert fields["product_description"].startswith("The Pro plan of our online service")
    assert "consent to the terms of service: accepted" in fields["refund_policy_disclosure"]
    assert "refunded in full within 14 days" in fields["refund_policy_disclosure"], "the catalog's policy"
    assert all(message_id in fields["uncategorized_text"] for message_id in receipts)
    assert f"invoice {first_invoice} paid, 10.00 USD" in fields["uncategorized_text"], "the prior payment"
    assert "The cardholder made this purchase." in fields["uncategorized_text"]
    log = fields["access_activity_log"]
    assert "checkout from 127.0.0.1" in log and "use from 127.0.0.1" in log
    assert drafted.json()["evidence"]["documents"]["receipt"]["file"] is None

    edited = admin(service, "PUT", f"/disputes/{dispute.id}/evidence", json={"fields": {"customer_name": "Dee S."}})
    assert edited.status_code == 200 and edited.json()["evidence"]["fields"]["customer_name"] == "Dee S."
    bad = admin(service, "PUT", f"/disputes/{dispute.id}/evidence", json={"fields": {"shipping_carrier": "x"}})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "fields.shipping_carrier"

    submitted = admin(service, "POST", f"/disputes/{dispute.id}/evidence/submit")
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["submission_count"] == 1 and submitted.json()["status"] == "under_review"
    again = admin(service, "POST", f"/disputes/{dispute.id}/evidence/submit")
    assert again.status_code == 409 and again.json()["error"]["code"] == "evidence_submitted"
    in_stripe = sim.client().v1.disputes.retrieve(dispute.id)
    assert in_stripe.evidence_details.submission_count == 1
    assert in_stripe.evidence.customer_name == "Dee S."
    assert str(in_stripe.evidence.receipt).startswith("file_"), "the receipts, uploaded as a PDF"
    posts = [e for e in sim.get("requests")["data"] if e[2] == "POST" and e[3] == f"/v1/disputes/{dispute.id}"]
    assert len(posts) == 1, "the evidence reached Stripe once"

    # The bank decides: lost. Access ends (PAYWIRE_REFUND_ACCESS=end_now) and it is counted.
    sim.control(f"disputes/{dispute.id}/decide", {"outcome": "lost"})
    wait_for("the subscription ended", lambda: shop.billing()["state"] == "canceled")
    assert not shop.billing()["access"]
    wait_for("the outcome told", lambda: team_mails(mailbox, "team_dispute_closed"))
    assert team_mails(mailbox, "team_dispute_closed") == [f"Dispute {dispute.id} lost: 10.00 USD"]
    wait_for(
        "counted as lost",
        lambda: (
            metric(service, "paywire_disputes_open") == 0
            and metric(service, "paywire_disputes_closed", outcome="lost") == 1
        ),
    )
    assert metric(service, "paywire_disputes_lost_amount", currency="usd") == 10.0
    assert len(team_mails(mailbox, "team_dispute_opened")) == 1, "alerted once"
    assert len(team_mails(mailbox, "team_dispute_reminder")) == 2


def _day(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%-d %B %Y")


def test_an_accepted_dispute_is_lost_and_ends_the_pass(service: Service, sim: Sim, mailbox: Mailbox) -> None:
    sim.control("config", {"dispute_delay_s": 0})
    shop = Shop(service, sim, "pass_disputer")
    assert shop.pay(shop.checkout({"product": "pass-3-months"}), "4000000000000259").status_code == 200
    travel(service, "pass_disputer", int(time.time()) + 600)  # the bank's dispute comes in the clock's time
    dispute = wait_for("the dispute mirrored", lambda: the_dispute(service))
    wait_for("access", lambda: shop.billing()["access"])

    accepted = admin(service, "POST", f"/disputes/{dispute.id}/accept")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "lost"
    assert sim.client().v1.disputes.retrieve(dispute.id).status == "lost"
    again = admin(service, "POST", f"/disputes/{dispute.id}/accept")
    assert again.status_code == 409 and again.json()["error"]["code"] == "dispute_closed"
    refused = admin(service, "POST", f"/disputes/{dispute.id}/evidence/submit")
    assert refused.status_code == 409, "a closed dispute takes no evidence"

    wait_for("the pass ended", lambda: not shop.billing()["access"])
    wait_for(
        "counted as lost",
        lambda: (
            metric(service, "paywire_disputes_open") == 0
            and metric(service, "paywire_disputes_lost_amount", currency="usd") == 4.0
        ),
    )
    assert metric(service, "paywire_disputes_closed", outcome="lost") == 1
    wait_for("the outcome told", lambda: team_mails(mailbox, "team_dispute_closed"))
    assert admin(service, "GET", "/disputes").json()["data"] == []
    with service.http() as http:
        assert http.get("/api/admin/disputes", headers=service.headers_for("someone")).status_code == 403
