"""Refunds with their states, disputes with their evidence, dispute evidence files, and the terms a
Checkout asks the payer to accept: what Stripe does, as stripesim does it."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
import stripe

from tests.support.billing_world import clocked_customer, event_types, make_catalog, pay_checkout
from tests.support.stripesim import TEST_KEY, Sim

START = 1_793_610_000  # 2026-11-02T09:00:00Z
DAY = 86_400
PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


def paid(c: stripe.StripeClient, customer: Any, card: str, amount: int = 2000) -> Any:
    """A payment of `amount` by a test card (`pm_card_…`), confirmed at once; its charge."""
    pi = c.v1.payment_intents.create(
        params={"amount": amount, "currency": "usd", "customer": customer.id, "payment_method": card, "confirm": True}
    )
    return c.v1.charges.retrieve(str(pi.latest_charge))


def test_a_refund_settles_as_the_card_says(sim: Sim) -> None:
    c = sim.client()
    clock, customer = clocked_customer(c, START)

    at_once = c.v1.refunds.create(params={"charge": paid(c, customer, "pm_card_visa").id, "amount": 500})
    pending = c.v1.refunds.create(params={"charge": paid(c, customer, "pm_card_pendingRefund").id})
    failing_charge = paid(c, customer, "pm_card_refundFail")
    failing = c.v1.refunds.create(params={"charge": failing_charge.id, "reason": "requested_by_customer"})

    assert (at_once.status, pending.status, failing.status) == ("succeeded", "pending", "succeeded")
    assert pending.pending_reason == "processing"
    assert c.v1.charges.retrieve(failing_charge.id).amount_refunded == 2000
    mark = c.v1.events.list(params={"limit": 1}).data[0].id

    sim.advance(c, clock.id, START + 60)

    assert c.v1.refunds.retrieve(pending.id).status == "succeeded"
    failed = c.v1.refunds.retrieve(failing.id)
    assert (failed.status, failed.failure_reason) == ("failed", "expired_or_canceled_card")
    charge = c.v1.charges.retrieve(failing_charge.id)
    assert (charge.amount_refunded, charge.refunded) == (0, False), "the money is the merchant's again"
    settled = [t for t in event_types(c, mark) if not t.startswith("test_helpers.")]
    assert sorted(settled) == ["charge.updated", "refund.failed", "refund.updated", "refund.updated"]


def test_a_refund_beyond_what_is_left_or_of_a_chargeback_is_refused(sim: Sim) -> None:
    c = sim.client()
    sim.control("config", {"dispute_delay_s": 0})
    clock, customer = clocked_customer(c, START)
    charge = paid(c, customer, "pm_card_visa")
    c.v1.refunds.create(params={"charge": charge.id, "amount": 1500})

    with pytest.raises(stripe.InvalidRequestError) as too_much:
        c.v1.refunds.create(params={"charge": charge.id, "amount": 501})
    assert too_much.value.code == "amount_too_large"

    disputed = paid(c, customer, "pm_card_createDispute")
    sim.advance(c, clock.id, START + 1)
    with pytest.raises(stripe.InvalidRequestError) as charged_back:
        c.v1.refunds.create(params={"charge": disputed.id})
    assert charged_back.value.code == "charge_disputed"


def test_a_dispute_test_cards_dispute_opens_when_told_to(sim: Sim) -> None:
    """`POST /_sim/charges/{id}/dispute`: the dispute the card would open later, opened now, at
    the charge's clock time, once; a charge of another card has none to open."""
    c = sim.client()
    clock, customer = clocked_customer(c, START)
    refunded_first = paid(c, customer, "pm_card_createDispute")
    c.v1.refunds.create(params={"charge": refunded_first.id, "amount": 500})

    dispute = sim.control(f"charges/{refunded_first.id}/dispute", {})

    assert (dispute["object"], dispute["charge"], dispute["status"]) == ("dispute", refunded_first.id, "needs_response")
    assert dispute["created"] == START and c.v1.charges.retrieve(refunded_first.id).disputed
    assert [d.id for d in c.v1.disputes.list().data] == [dispute["id"]]
    sim.advance(c, clock.id, START + 3600)
    assert [d.id for d in c.v1.disputes.list().data] == [dispute["id"]], "the timer does not open a second"
    for charge_id in (refunded_first.id, paid(c, customer, "pm_card_visa").id):
        refused = httpx.post(f"{sim.url}/_sim/charges/{charge_id}/dispute")
        assert (refused.status_code, refused.json()["error"]["param"]) == (400, "charge")


def upload(c: stripe.StripeClient, content: bytes, name: str) -> Any:
    data = io.BytesIO(content)
    data.name = name
    return c.v1.files.create(params={"file": data, "purpose": "dispute_evidence"})  # type: ignore[typeddict-item]


def test_dispute_evidence_is_staged_then_submitted_once_and_the_bank_decides(sim: Sim) -> None:
    c = sim.client()
    sim.control("config", {"dispute_delay_s": 30})
    clock, customer = clocked_customer(c, START)
    charge = paid(c, customer, "pm_card_createDispute")
    sim.advance(c, clock.id, START + 60)
    [dispute] = c.v1.disputes.list(params={"charge": charge.id}).data
    assert (dispute.status, dispute.reason, dispute.amount) == ("needs_response", "fraudulent", 2000)
    assert dispute.evidence_details.due_by == START + 30 + 7 * DAY
    assert c.v1.charges.retrieve(charge.id).disputed

    receipt = upload(c, PDF, "receipt.pdf")
    assert (receipt.purpose, receipt.type, receipt.size) == ("dispute_evidence", "pdf", len(PDF))
    contents = httpx.get(str(receipt.url), headers={"authorization": f"Bearer {TEST_KEY}"}, trust_env=False)
    assert contents.content == PDF

    staged = c.v1.disputes.update(
        dispute.id,
        params={"evidence": {"receipt": receipt.id, "customer_email_address": "ann@example.com"}, "submit": False},
    )
    assert (staged.status, staged.evidence_details.has_evidence, staged.evidence_details.submission_count) == (
        "needs_response",
        True,
        0,
    )
    assert staged.evidence.receipt == receipt.id
    with pytest.raises(stripe.InvalidRequestError, match="No such file upload"):
        c.v1.disputes.update(dispute.id, params={"evidence": {"receipt": "file_nope"}, "submit": False})

    submitted = c.v1.disputes.update(
        dispute.id, params={"evidence": {"uncategorized_text": "Used the product for weeks."}, "submit": True}
    )
    assert (submitted.status, submitted.evidence_details.submission_count) == ("under_review", 1)
    assert submitted.evidence.customer_email_address == "ann@example.com", "staged evidence is kept"
    with pytest.raises(stripe.InvalidRequestError, match="already submitted"):
        c.v1.disputes.update(dispute.id, params={"submit": True})
    with pytest.raises(stripe.InvalidRequestError, match="under review"):
        c.v1.disputes.close(dispute.id)

    decided = sim.control(f"disputes/{dispute.id}/decide", {"outcome": "lost"})
    assert decided["status"] == "lost"
    assert c.v1.disputes.retrieve(dispute.id).evidence_details.submission_count == 1
    with pytest.raises(httpx.HTTPStatusError):
        sim.control(f"disputes/{dispute.id}/decide", {"outcome": "won"})
    types = [t for t in event_types(c) if t.startswith("charge.dispute.")]
    assert types == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.updated",  # staged
        "charge.dispute.updated",  # submitted
        "charge.dispute.updated",  # lost
        "charge.dispute.closed",
    ]


def test_a_dispute_won_reinstates_the_funds_and_one_not_answered_goes_past_due(sim: Sim) -> None:
    c = sim.client()
    sim.control("config", {"dispute_delay_s": 0})
    clock, customer = clocked_customer(c, START)
    won_charge = paid(c, customer, "pm_card_createDispute")
    silent_charge = paid(c, customer, "pm_card_createDisputeProductNotReceived")
    sim.advance(c, clock.id, START + 1)
    [won] = c.v1.disputes.list(params={"charge": won_charge.id}).data
    [silent] = c.v1.disputes.list(params={"charge": silent_charge.id}).data
    assert silent.reason == "product_not_received"

    sim.control(f"disputes/{won.id}/decide", {"outcome": "won"})
    sim.advance(c, clock.id, START + 8 * DAY)

    assert c.v1.disputes.retrieve(won.id).status == "won"
    late = c.v1.disputes.retrieve(silent.id)
    assert (late.status, late.evidence_details.past_due) == ("needs_response", True)
    with pytest.raises(stripe.InvalidRequestError, match="deadline"):
        c.v1.disputes.update(silent.id, params={"evidence": {"uncategorized_text": "late"}, "submit": True})
    assert "charge.dispute.funds_reinstated" in event_types(c)
    accepted = c.v1.disputes.close(silent.id)
    assert accepted.status == "lost"


def test_dispute_evidence_files_are_pdf_jpeg_or_png(sim: Sim) -> None:
    c = sim.client()
    with pytest.raises(stripe.InvalidRequestError, match="PDF, JPEG or PNG") as refused:
        upload(c, b"just some text", "notes.txt")
    assert refused.value.code == "invalid_file_type"
    png = upload(c, b"\x89PNG\r\n\x1a\n" + b"\x00" * 16, "shot.png")
    assert png.type == "png"
    assert [f.id for f in c.v1.files.list(params={"purpose": "dispute_evidence"}).data] == [png.id]
    assert "file.created" in event_types(c)


def test_checkout_asks_the_payer_to_accept_the_terms_when_told_to(sim: Sim) -> None:
    c = sim.client()
    catalog = make_catalog(c)
    customer = c.v1.customers.create(params={"email": "ann@example.com"})
    session = c.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "customer": customer.id,
            "line_items": [{"price": catalog.pass_once.id, "quantity": 1}],
            "success_url": "https://app.example.com/ok",
            "consent_collection": {"terms_of_service": "required"},
            "custom_text": {"terms_of_service_acceptance": {"message": "Refunds within 14 days."}},
        }
    )
    assert session.consent_collection is not None and session.consent_collection.terms_of_service == "required"
    page = httpx.get(str(session.url), trust_env=False).text
    assert 'name="terms"' in page and "Refunds within 14 days." in page

    declined = pay_checkout(sim, session.id, terms="declined")
    assert declined.status_code == 400 and "terms of service" in declined.text
    assert pay_checkout(sim, session.id).status_code == 200
    done = c.v1.checkout.sessions.retrieve(session.id)
    assert done.consent is not None and done.consent.terms_of_service == "accepted"
