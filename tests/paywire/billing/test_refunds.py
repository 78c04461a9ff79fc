"""Refunds end to end: an admin's refunds through `POST /api/admin/refunds` against stripesim,
the webhooks applied by the worker, the mails through a real SMTP server. A partial refund of a
subscription invoice keeps access; a full refund of a pass ends it; the same request twice
refunds once; a refund larger than what is left is refused and changes nothing; a refund that
fails tells the team; a fully refunded subscription payment ends the subscription; a customer
refunds a purchase themselves once, within the window."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from paywire.billing.refunds import request_key
from paywire.db.models import Order, Refund, RefundRequest, utcnow
from tests.paywire.conftest import Service
from tests.paywire.events.conftest import Shop, metric, wait_for
from tests.paywire.mailbox import Mailbox
from tests.support.stripesim import Sim

ADMIN = "admin_refunds"
TEAM = "team@example.com"
PASS = {"product": "pass-3-months"}
PRO = {"plan": "pro", "interval": "month"}
REFUND_FAILS_CARD = "4000000000005126"


@pytest.fixture
def service(make_paywire_service: Callable[..., Service], mailbox: Mailbox) -> Service:
    return make_paywire_service(
        PAYWIRE_ADMIN_USERS=ADMIN,
        PAYWIRE_TEAM_EMAIL=TEAM,
        **mailbox.settings(),
        PAYWIRE_SELF_REFUND_DAYS=14,
    )


def refund(service: Service, body: dict[str, Any], *, user: str = ADMIN, **headers: str) -> httpx.Response:
    with service.http() as http:
        return http.post("/api/admin/refunds", json=body, headers={**service.headers_for(user), **headers})


def payments(shop: Shop) -> list[dict[str, Any]]:
    with shop.service.http() as http:
        found: list[dict[str, Any]] = http.get("/api/billing/payments", headers=shop.headers).json()["data"]
    return found


def bought(service: Service, sim: Sim, user_id: str, body: dict[str, Any], card: str = "4242424242424242") -> Shop:
    shop = Shop(service, sim, user_id)
    assert shop.pay(shop.checkout(body), card).status_code == 200
    wait_for("access", lambda: shop.billing()["access"])
    wait_for("the payment listed", lambda: payments(shop))
    return shop


def refunds_in_stripe(sim: Sim, charge_of: str) -> list[Any]:
    return list(sim.client().v1.refunds.list(params={"charge": charge_of}).data)


def charge_of_invoice(sim: Sim, invoice_id: str) -> str:
    c = sim.client()
    [paid] = c.v1.invoice_payments.list(params={"invoice": invoice_id}).data
    intent = c.v1.payment_intents.retrieve(str(paid.payment.payment_intent))
    return str(intent.latest_charge)


def mirrored(service: Service, payment_id: str) -> list[Refund]:
    with service.sessions() as session:
        return list(session.scalars(select(Refund).where(Refund.payment_id == payment_id)))


def mails_to(mailbox: Mailbox, address: str, notice: str) -> list[str]:
    return [m["subject"] for m in mailbox.received_by(address) if m["notice"] == notice]


def test_a_partial_refund_of_an_invoice_keeps_access_once_however_often_asked(
    service: Service, sim: Sim, mailbox: Mailbox
) -> None:
    shop = bought(service, sim, "refund_partial", PRO)
    [invoice] = payments(shop)
    assert (invoice["kind"], invoice["amount"]) == ("subscription", 1000)
    charge_id = charge_of_invoice(sim, invoice["id"])

    first = refund(service, {"payment": invoice["id"], "amount": 300, "reason": "requested_by_customer"})
    assert first.status_code == 200, first.text
    done = first.json()
    assert (done["amount"], done["refunded"], done["left"], done["replayed"]) == (300, 300, 700, False)
    again = refund(service, {"payment": invoice["id"], "amount": 300, "reason": "requested_by_customer"})
    assert again.status_code == 200, again.text
    assert again.json()["refund"] == done["refund"] and again.json()["replayed"] is True
    assert len(refunds_in_stripe(sim, charge_id)) == 1, "the same request refunds once"

    too_much = refund(service, {"payment": invoice["id"], "amount": 701, "reason": "requested_by_customer"})
    assert too_much.status_code == 400
    error = too_much.json()["error"]
    assert (error["code"], error["field"]) == ("amount_too_large", "amount")
    assert "at most USD 7.00" in error["message"] and "USD 3.00 refunded already" in error["message"]
    for bad, field in (({"payment": invoice["id"], "reason": "because"}, "reason"), ({"payment": "nope"}, "payment")):
        answer = refund(service, bad)
        assert answer.status_code in (400, 404) and answer.json()["error"]["field"] == field, answer.text
    assert refund(service, {"payment": invoice["id"]}, user="not_an_admin").status_code == 403
    assert len(refunds_in_stripe(sim, charge_id)) == 1, "a refused refund changes nothing"
    with service.sessions() as session:
        assert session.scalar(select(func.count()).select_from(RefundRequest)) == 1

    wait_for(
        "the refund mirrored",
        lambda: [(r.status, r.amount) for r in mirrored(service, invoice["id"])] == [("succeeded", 300)],
    )
    [row] = mirrored(service, invoice["id"])
    assert (row.user_id, row.requested_by, row.reason) == ("refund_partial", ADMIN, "requested_by_customer")
    wait_for(
        "the refund mail",
        lambda: mails_to(mailbox, "refund_partial@example.com", "refund") == ["Your refund of 3.00 USD is on its way"],
    )
    assert shop.billing()["access"] and shop.billing()["state"] == "active", "a partial refund keeps access"


def test_a_full_refund_of_a_pass_ends_it_at_once(service: Service, sim: Sim, mailbox: Mailbox) -> None:
    shop = bought(service, sim, "refund_pass", PASS)
    [purchase] = payments(shop)
    assert purchase["id"].startswith("cs_")

    done = refund(service, {"payment": purchase["id"], "reason": "duplicate"})
    assert done.status_code == 200, done.text
    assert (done.json()["amount"], done.json()["left"]) == (400, 0)

    wait_for("the pass ended", lambda: not shop.billing()["access"])
    with service.sessions() as session:
        assert session.scalar(select(Order.status).where(Order.checkout_session_id == purchase["id"])) == "refunded"
    wait_for("the refund mirrored", lambda: [r.status for r in mirrored(service, purchase["id"])] == ["succeeded"])
    wait_for(
        "the refund mail",
        lambda: mails_to(mailbox, "refund_pass@example.com", "refund") == ["Your refund of 4.00 USD is on its way"],
    )
    assert [p["status"] for p in payments(shop)] == ["refunded"]
    again = refund(service, {"payment": purchase["id"], "reason": "requested_by_customer"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_refunded"


def test_a_full_refund_of_a_subscription_payment_ends_the_subscription(service: Service, sim: Sim) -> None:
    shop = bought(service, sim, "refund_whole_sub", PRO)
    [invoice] = payments(shop)
    assert refund(service, {"payment": invoice["id"], "reason": "fraudulent"}).status_code == 200
    wait_for("the subscription ended", lambda: shop.billing()["state"] == "canceled")
    assert not shop.billing()["access"]


def test_a_refund_that_fails_tells_the_team(service: Service, sim: Sim, mailbox: Mailbox) -> None:
    sim.control("config", {"refund_settle_s": 1})
    shop = bought(service, sim, "refund_fails", PASS, card=REFUND_FAILS_CARD)
    [purchase] = payments(shop)
    assert refund(service, {"payment": purchase["id"], "reason": "requested_by_customer"}).status_code == 200

    wait_for("the refund failed", lambda: [r.status for r in mirrored(service, purchase["id"])] == ["failed"])
    [row] = mirrored(service, purchase["id"])
    assert row.failure_reason == "expired_or_canceled_card"
    wait_for("the team's mail", lambda: mails_to(mailbox, TEAM, "team_refund_failed"))
    [subject] = mails_to(mailbox, TEAM, "team_refund_failed")
    assert subject == "Refund failed: 4.00 USD to customer refund_fails"
    wait_for("counted", lambda: metric(service, "paywire_refunds", status="failed") == 1)


def test_a_customer_refunds_a_purchase_once_within_the_window(service: Service, sim: Sim) -> None:
    shop = bought(service, sim, "refund_self", PASS)
    [purchase] = payments(shop)
    with service.http() as http:
        own = http.post(f"/api/billing/payments/{purchase['id']}/refund", headers=shop.headers)
        assert own.status_code == 200, own.text
        wait_for("the pass ended", lambda: not shop.billing()["access"])
        second = shop.checkout(PASS)
        assert shop.pay(second).status_code == 200
        wait_for("the second pass", lambda: shop.billing()["access"])
        again = http.post(f"/api/billing/payments/{second}/refund", headers=shop.headers)
        assert again.status_code == 403 and again.json()["error"]["code"] == "self_refund_not_allowed"
        other = Shop(service, sim, "refund_someone_else")
        theirs = http.post(f"/api/billing/payments/{second}/refund", headers=other.headers)
        assert theirs.status_code == 403
    assert shop.billing()["access"], "a refused refund changes nothing"
    with service.sessions() as session:
        assert [r.requested_by for r in session.scalars(select(Refund))] == ["self"]


def test_a_request_left_part_way_is_finished_by_the_next_without_a_second_refund(service: Service, sim: Sim) -> None:
    shop = bought(service, sim, "refund_crashed", PASS)
    [purchase] = payments(shop)
    key = request_key(purchase["id"], None, "requested_by_customer", ADMIN, None)
    with service.sessions() as session:
        session.add(
            RefundRequest(
                key=key,
                payment_id=purchase["id"],
                requested_by=ADMIN,
                created_at=utcnow(),
                expires_at=utcnow() + timedelta(days=1),
            )
        )
        session.commit()
    busy = refund(service, {"payment": purchase["id"]})
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "refund_in_progress"

    # The crashed maker's refund reached Stripe; its request row is over a minute old.
    intent = str(sim.client().v1.checkout.sessions.retrieve(purchase["id"]).payment_intent)
    made = sim.client().v1.refunds.create(params={"payment_intent": intent, "metadata": {"paywire_request": key}})
    with service.sessions() as session:
        row = session.get(RefundRequest, key)
        assert row is not None
        row.created_at = utcnow() - timedelta(minutes=2)
        session.commit()

    finished = refund(service, {"payment": purchase["id"]})
    assert finished.status_code == 200, finished.text
    assert (finished.json()["refund"], finished.json()["left"]) == (made.id, 0)
    assert len(sim.client().v1.refunds.list(params={"payment_intent": intent}).data) == 1
    again = refund(service, {"payment": purchase["id"]})
    assert again.json()["refund"] == made.id and again.json()["replayed"] is True
