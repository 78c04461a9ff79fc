"""A dispute's evidence, drafted from what paywire already knows, reviewed by the team, then
staged to Stripe and submitted once.

The draft (`dispute_evidence`, one per dispute) fills Stripe's evidence fields from the mirror
and paywire's own records: the customer's email and name, the IP and browser their checkout
came from (`access_log`), the product or plan and when it was served, the terms of service
they accepted at checkout (Checkout's `consent`) and the refund policy shown beside them (the
catalog's), the receipts paywire mailed them with their Message-IDs, their sign-ins and uses of
the product and the usage recorded, their prior paid payments, and a rebuttal written for the
dispute's reason. What cannot be said in text goes in a document: the receipts as a PDF,
uploaded to Stripe (purpose `dispute_evidence`) when the evidence is first sent.

Stripe keeps staged evidence (`submit=false`) as often as it is sent, and takes submitted
evidence (`submit=true`) once: a dispute submitted, under review or closed refuses both, and
paywire says so before asking. Accepting a dispute closes it (lost).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from paywire.billing.errors import Refused
from paywire.catalog import Catalog
from paywire.db.models import AccessRecord, Dispute, DisputeEvidence, utcnow
from paywire.db.repositories import access_log, customers, disputes, invoices, orders, subscriptions
from paywire.mirror import read_version
from paywire.mirror.disputes import Owner, write_dispute
from paywire.outbox.store import told_to_user
from paywire.stripe import Kind, StripeError, StripeGateway, StripeRejected
from paywire.stripe import idempotency as keys

# The text fields the draft fills and the team may edit, in the order `/admin` shows them.
TEXT_FIELDS = (
    "customer_name",
    "customer_email_address",
    "customer_purchase_ip",
    "product_description",
    "service_date",
    "access_activity_log",
    "refund_policy_disclosure",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "refund_refusal_explanation",
    "uncategorized_text",
)
MAX_TEXT = 150_000  # Stripe's limit on all of a dispute's text
ACCESS_LINES = 40
REBUTTALS = {
    "fraudulent": (
        "The cardholder made this purchase. It was made through our checkout by the account holder, "
        "signed in with their email, who accepted our terms of service, received the receipt at that "
        "address and then used the product, as the access log below shows."
    ),
    "product_not_received": (
        "The customer received what they paid for: access to the product was granted at once, and the "
        "access log below shows them using it after the payment."
    ),
    "subscription_canceled": (
        "The customer did not cancel before this payment: the subscription could be canceled at any time "
        "from the account page, and was still active when it renewed. The receipt was mailed to them."
    ),
    "duplicate": (
        "This payment is not a duplicate: each payment listed below is for its own period or purchase, "
        "with its own receipt."
    ),
    "product_unacceptable": (
        "The product was delivered as described at checkout, and used, as the access log below shows. "
        "Our refund policy, shown at checkout, was not invoked by the customer."
    ),
    "credit_not_processed": (
        "No refund was owed under the refund policy the customer accepted at checkout, and none was asked for."
    ),
}
GENERAL = (
    "The customer bought and used our product: the purchase, the terms they accepted, the receipt and "
    "their use of the product are below."
)


def _day(unix: int | None) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d") if unix else ""


def _moment(at: datetime) -> str:
    aware = at if at.tzinfo else at.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _money(amount: int | None, currency: str | None) -> str:
    return f"{(amount or 0) / 100:.2f} {(currency or '').upper()}".strip()


def find_dispute(session: Session, dispute_id: str) -> Dispute:
    found = disputes.find(session, dispute_id)
    if found is None:
        raise Refused(f"No dispute {dispute_id!r}.", code="not_found", field="dispute", status=404)
    return found


def draft_for(
    session: Session, gateway: StripeGateway, catalog: Catalog, dispute_id: str, *, rebuild: bool = False
) -> DisputeEvidence:
    """The dispute's evidence as the team left it, drafted now if there is none yet (or
    `rebuild`: drafted again, unless it was already submitted)."""
    dispute = find_dispute(session, dispute_id)
    row = disputes.evidence_of(session, dispute_id)
    if row is not None and (not rebuild or row.submitted_at is not None):
        return row
    fields, documents, notes = build(session, gateway, catalog, dispute)
    if row is None:
        row = DisputeEvidence(dispute_id=dispute_id, fields=fields, documents=documents, notes=notes)
        session.add(row)
    else:
        row.fields, row.documents, row.notes = fields, documents, notes
        row.built_at, row.edited_at, row.edited_by = utcnow(), None, None
    session.commit()
    return row


def build(
    session: Session, gateway: StripeGateway, catalog: Catalog, dispute: Dispute
) -> tuple[dict[str, str], dict[str, Any], list[str]]:
    """The draft's text fields, its documents and what each part came from."""
    notes: list[str] = []
    user_id = dispute.user_id
    payment_id = dispute.payment_id or ""
    customer = customers.find_by_user(session, user_id) if user_id else None
    order = orders.find_by_checkout_session(session, payment_id) if payment_id.startswith("cs_") else None
    invoice = invoices.find(session, payment_id) if payment_id.startswith("in_") else None
    subscription = subscriptions.find(session, invoice.subscription_id) if invoice and invoice.subscription_id else None
    checkout = _checkout_of(
        gateway, order.checkout_session_id if order else None, subscription.id if subscription else None
    )
    details = (checkout or {}).get("customer_details") or {}
    email = (customer.email if customer else None) or details.get("email") or ""
    name = details.get("name") or ""
    origin = access_log.checkout_origin(session, str(checkout["id"])) if checkout else None

    if order is not None:
        product = catalog.product(order.product)
        what = f"{product.name if product else order.product}, a one-time pass to our online service"
        paid_at = order.paid_at
        if order.access_starts_at and order.access_ends_at:
            what += f", giving access from {_day(order.access_starts_at)} to {_day(order.access_ends_at)}"
    elif subscription is not None:
        plan = catalog.plan(subscription.plan) if subscription.plan else None
        what = f"The {plan.name if plan else subscription.plan} plan of our online service, a subscription"
        paid_at = _paid_at(invoice.stripe_object if invoice else None) or dispute.stripe_created
    else:
        what, paid_at = "Our online service", dispute.stripe_created

    fields = {name_: "" for name_ in TEXT_FIELDS}
    fields["customer_name"] = name
    fields["customer_email_address"] = email
    fields["customer_purchase_ip"] = (origin.ip or "") if origin else ""
    fields["product_description"] = what + "."
    fields["service_date"] = _day(paid_at)
    notes.append(f"customer: paywire's customer record of {user_id}" if customer else "customer: not known")
    if origin is not None:
        notes.append(f"purchase IP and browser: paywire's record of the checkout {origin.detail}")

    consent = ((checkout or {}).get("consent") or {}).get("terms_of_service")
    accepted = consent == "accepted"
    policy = catalog.refund_policy or ""
    if accepted:
        shown = f" Shown beside the checkbox: {policy}" if policy else ""
        fields["refund_policy_disclosure"] = (
            f"At checkout on {_day((checkout or {}).get('created'))} the customer ticked "
            f'"I agree to the Terms of Service" (Stripe Checkout {checkout["id"] if checkout else ""}, '
            f"consent to the terms of service: accepted).{shown}"
        )
        notes.append("terms accepted: Stripe Checkout's consent on the session")
    elif policy:
        fields["refund_policy_disclosure"] = f"Our refund policy: {policy}"
    if subscription is not None:
        fields["cancellation_policy_disclosure"] = (
            "The subscription can be canceled at any time from the account page; access continues to the "
            "end of the period paid for and it does not renew."
        )
    records = list(access_log.of_user(session, user_id, limit=ACCESS_LINES)) if user_id else []
    usage = access_log.usage_of(session, user_id) if user_id else []
    fields["access_activity_log"] = access_text(records, access_log.counts(session, user_id) if user_id else {}, usage)
    if records or usage:
        notes.append("access: paywire's access log (sign-ins, uses, checkouts) and recorded usage")

    receipts = told_to_user(session, user_id, ["receipt", "pass_fulfilled"]) if user_id else []
    prior = prior_payments(session, customer.stripe_customer_id if customer else None, user_id, payment_id)
    fields["uncategorized_text"] = rebuttal(dispute, what, receipts, prior, accepted, origin)
    if receipts:
        notes.append(f"receipts: the {len(receipts)} mail(s) paywire sent, with their Message-IDs")
    if prior:
        notes.append(f"prior payments: {len(prior)} paid invoice(s) and purchase(s) in the mirror")
    documents: dict[str, Any] = {}
    if receipts:
        lines = receipt_lines(receipts)
        content = text_pdf("Receipts sent to the customer", lines)
        documents["receipt"] = {
            "title": f"receipts-{dispute.id}.pdf",
            "sha256": hashlib.sha256(content).hexdigest(),
            "lines": lines,
            "file_id": None,
        }
    return fields, documents, notes


def _checkout_of(gateway: StripeGateway, session_id: str | None, subscription_id: str | None) -> dict[str, Any] | None:
    try:
        if session_id:
            return gateway.retrieve(Kind.CHECKOUT_SESSION, session_id)
        if subscription_id:
            return gateway.payments.checkout_session_of(subscription=subscription_id)
    except StripeError:
        return None
    return None


def _paid_at(invoice: Mapping[str, Any] | None) -> int | None:
    found = ((invoice or {}).get("status_transitions") or {}).get("paid_at")
    return int(found) if isinstance(found, int) else None


def access_text(
    records: list[AccessRecord], counts: dict[str, int], usage: list[tuple[str, int, int, int, int]]
) -> str:
    """The access log as evidence: totals, then the latest records, newest first. Pure."""
    if not records and not usage:
        return ""
    words = {"sign_in": "sign-ins", "use": "uses of the product", "checkout": "checkouts"}
    total = ", ".join(f"{counts[k]} {words.get(k, k)}" for k in sorted(counts))
    lines = [f"Recorded: {total}." if total else "Recorded:"]
    for meter, events, value, first, last in usage:
        lines.append(f"Usage of {meter}: {events} events ({value} units) from {_day(first)} to {_day(last)}.")
    for record in records:
        where = f" from {record.ip}" if record.ip else ""
        browser = f" ({record.user_agent})" if record.user_agent else ""
        lines.append(f"{_moment(record.at)} {record.kind.replace('_', '-')}{where}{browser}")
    return "\n".join(lines)


def prior_payments(
    session: Session, stripe_customer_id: str | None, user_id: str | None, payment_id: str
) -> list[tuple[int, str, str]]:
    """The customer's other paid payments: (when, what, amount), oldest first. A purchase's
    own invoice (Checkout's `invoice_creation`) is listed as the purchase."""
    found: list[tuple[int, str, str]] = []
    placed = list(orders.paid_for_user(session, user_id)) if user_id else []
    of_orders = {o.invoice_id for o in placed if o.invoice_id}
    for order in placed:
        if order.checkout_session_id != payment_id:
            amount = _money(order.amount_total, order.currency)
            found.append((order.paid_at or 0, f"purchase {order.checkout_session_id}", amount))
    if stripe_customer_id:
        for row in invoices.for_customer(session, stripe_customer_id):
            if row.status == "paid" and row.id != payment_id and row.amount_paid and row.id not in of_orders:
                when = _paid_at(row.stripe_object) or row.stripe_created
                found.append((when, f"invoice {row.id}", _money(row.amount_paid, row.currency)))
    return sorted(found)


def receipt_lines(receipts: list[dict[str, Any]]) -> list[str]:
    """Each mail as a line: when, its subject, the amount, its Message-ID. Pure."""
    lines = []
    for told in receipts:
        detail = str(told.get("detail") or "")
        said = detail.split(": ", 1)[-1] if detail.startswith("sent") else detail
        subject, _, message = said.rpartition(" <")
        subject, message = (subject, f"<{message}") if subject else (said, "")
        payload = told.get("payload") or {}
        amount = payload.get("amount_paid") if payload.get("amount_paid") is not None else payload.get("amount_total")
        money = f" for {_money(amount, payload.get('currency'))}" if isinstance(amount, int) else ""
        named = f", Message-ID {message}" if message else ""
        lines.append(f'{_moment(told["done_at"])}: "{subject}"{money}{named}')
    return lines


def rebuttal(
    dispute: Dispute,
    what: str,
    receipts: list[dict[str, Any]],
    prior: list[tuple[int, str, str]],
    accepted: bool,
    origin: AccessRecord | None,
) -> str:
    reason = dispute.reason or "general"
    code = f", network reason code {dispute.network_reason_code}" if dispute.network_reason_code else ""
    parts = [f"Dispute {dispute.id} (reason: {reason.replace('_', ' ')}{code}).", REBUTTALS.get(reason, GENERAL)]
    parts.append(f"What was bought: {what}.")
    if origin is not None:
        browser = f" using {origin.user_agent}" if origin.user_agent else ""
        parts.append(f"The checkout was started on {_moment(origin.at)} from IP {origin.ip}{browser}.")
    if accepted:
        parts.append("The customer accepted our terms of service at checkout (Stripe Checkout consent).")
    if receipts:
        parts.append("Receipts mailed to the customer:\n" + "\n".join(f"- {line}" for line in receipt_lines(receipts)))
    if prior:
        listed = "\n".join(f"- {_day(when)}: {what_} paid, {amount}" for when, what_, amount in prior)
        parts.append(f"Prior successful payments by the same customer:\n{listed}")
    return "\n\n".join(parts)


def text_pdf(title: str, lines: list[str]) -> bytes:
    """A one-page PDF of plain lines (Helvetica), enough for a receipt's record. Pure."""

    def escape(text: str) -> str:
        plain = text.encode("latin-1", "replace").decode("latin-1")
        return plain.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    shown = [title, "", *lines][:60]
    stream = "BT /F1 10 Tf 50 800 Td 14 TL " + " ".join(f"({escape(line)}) Tj T*" for line in shown) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(stream.encode('latin-1'))} >>\nstream\n{stream}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def edit(session: Session, dispute_id: str, fields: Mapping[str, Any], *, by: str) -> DisputeEvidence:
    """The team's edits of the draft's text fields (an empty one is left blank)."""
    row = disputes.evidence_of(session, dispute_id)
    dispute = find_dispute(session, dispute_id)
    if row is None:
        raise Refused("Open the dispute first: its evidence is drafted then.", code="no_draft", status=409)
    _can_change(dispute, row)
    unknown = sorted(set(fields) - set(TEXT_FIELDS))
    if unknown:
        raise Refused(f"Unknown evidence field {unknown[0]!r}.", code="invalid", field=f"fields.{unknown[0]}")
    for key, value in fields.items():
        if not isinstance(value, str):
            raise Refused(f"{key} is text.", code="invalid", field=f"fields.{key}")
    merged = {**row.fields, **{k: str(v).strip() for k, v in fields.items()}}
    if sum(len(v) for v in merged.values()) > MAX_TEXT:
        raise Refused(f"The evidence's text is over Stripe's {MAX_TEXT:,} characters.", code="too_long", field="fields")
    row.fields = merged
    row.edited_at, row.edited_by = utcnow(), by
    session.commit()
    return row


def _can_change(dispute: Dispute, row: DisputeEvidence | None) -> None:
    if dispute.submission_count or (row is not None and row.submitted_at is not None):
        raise Refused(
            "This dispute's evidence was submitted: Stripe takes it once.", code="evidence_submitted", status=409
        )
    if dispute.status not in disputes.AWAITING_EVIDENCE:
        raise Refused(
            f"This dispute is {dispute.status.replace('_', ' ')}: it takes no evidence now.",
            code="dispute_closed",
            status=409,
        )
    if dispute.past_due:
        raise Refused("The deadline to answer this dispute has passed.", code="past_due", status=409)


def send(
    session: Session, gateway: StripeGateway, catalog: Catalog, dispute_id: str, *, submit: bool, by: str
) -> DisputeEvidence:
    """Stage the evidence on the dispute in Stripe (`submit=False`), or submit it to the bank
    (once). Its documents are uploaded first (once each)."""
    row = draft_for(session, gateway, catalog, dispute_id)
    dispute = find_dispute(session, dispute_id)
    _can_change(dispute, row)
    evidence = {k: v for k, v in row.fields.items() if v}
    documents = dict(row.documents or {})
    for field, document in documents.items():
        if not document.get("file_id"):
            content = text_pdf("Receipts sent to the customer", list(document.get("lines") or []))
            uploaded = gateway.disputes.upload_evidence(
                filename=str(document["title"]),
                content=content,
                idempotency_key=keys.evidence_file(dispute_id, field, hashlib.sha256(content).hexdigest()),
            )
            documents[field] = {**document, "file_id": uploaded["id"]}
        evidence[field] = documents[field]["file_id"]
    row.documents = documents
    session.commit()
    fingerprint = hashlib.sha256(repr(sorted(evidence.items())).encode()).hexdigest()[:24]
    version = read_version()
    try:
        answer = gateway.disputes.send_evidence(
            dispute_id,
            evidence=evidence,
            submit=submit,
            idempotency_key=keys.dispute_evidence(dispute_id, fingerprint, submit),
        )
    except StripeRejected as exc:
        raise Refused(f"Stripe refused the evidence: {exc}", code=exc.code or "evidence_rejected", status=409) from None
    write_dispute(
        session, answer, Owner(dispute.user_id, dispute.stripe_customer_id, dispute.payment_id), version=version
    )
    if submit:
        row.submitted_at, row.submitted_by = utcnow(), by
    else:
        row.staged_at = utcnow()
    session.commit()
    return row


def accept(session: Session, gateway: StripeGateway, dispute_id: str, *, by: str) -> Dispute:
    """Accept the dispute without contesting it: Stripe closes it, lost."""
    dispute = find_dispute(session, dispute_id)
    _can_change(dispute, None)
    version = read_version()
    answer = gateway.disputes.accept(dispute_id, idempotency_key=keys.dispute_close(dispute_id))
    owner = Owner(dispute.user_id, dispute.stripe_customer_id, dispute.payment_id)
    write_dispute(session, answer, owner, version=version)
    session.commit()
    return find_dispute(session, dispute_id)


def evidence_dict(row: DisputeEvidence) -> dict[str, Any]:
    return {
        "fields": {k: row.fields.get(k, "") for k in TEXT_FIELDS},
        "documents": {
            k: {"title": d.get("title"), "file": d.get("file_id"), "lines": d.get("lines") or []}
            for k, d in (row.documents or {}).items()
        },
        "notes": list(row.notes or []),
        "built_at": row.built_at.isoformat(),
        "edited_by": row.edited_by,
        "staged_at": row.staged_at.isoformat() if row.staged_at else None,
        "submitted_at": row.submitted_at.isoformat() if row.submitted_at else None,
        "submitted_by": row.submitted_by,
    }
