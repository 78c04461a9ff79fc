"""Which notice each fact gets (the dunning sequence by attempt, what Stripe sends itself), how
it is worded and branded (templates, overrides, inlined CSS), the message on the wire
(multipart, stable Message-ID, X-Paywire-* headers, SMTP retries) and the signed link."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from paywire.billing.payment_links import PaymentLinkInvalid, update_payment_token, user_of_link
from paywire.config import ConfigError, load_settings
from paywire.db.repositories import customers
from paywire.mirror import invoices
from paywire.outbox import ClaimedFact
from paywire.reactions import email as email_module
from paywire.reactions.email import Mail, SmtpEmailSender, message_id
from paywire.reactions.notices import Notice, NoticePolicy, notice_for
from paywire.reactions.registry import CustomerMail, ReactionContext
from paywire.web.auth import read_token
from paywire.web.errors import ApiError
from tests.paywire.mailbox import Mailbox, parts_of
from tests.support.stripesim import LIVE_SHAPED_KEY

SECRET = "a-test-secret-of-at-least-32-characters!"
INVOICE = {"id": "in_1", "object": "invoice", "customer": "cus_1", "created": 1_799_000_000, "amount_due": 900}


def settings(**values: Any) -> Any:
    return load_settings(**{"_env_file": None, "PAYWIRE_AUTH_SECRET": SECRET, **values})


def told(policy: NoticePolicy, attempt: int, *, retry_left: bool = True, **payload: Any) -> str:
    found = notice_for(
        "payment_failed",
        {"attempt_count": attempt, "next_payment_attempt": 1_800_000_000 if retry_left else None, **payload},
        policy,
    )
    return f"{found.kind}/{found.template}" if isinstance(found, Notice) else "-"


def test_the_default_sequence_follows_the_attempt_and_the_retries_left() -> None:
    policy = NoticePolicy.from_settings(settings())  # 8 tries, Stripe's recommendation
    sequence = [told(policy, n, retry_left=n < 8) for n in range(1, 9)]
    assert sequence == [
        "payment_failed/payment_failed",
        "payment_failed/second_notice",
        "-",
        "-",
        "-",
        "-",
        "final_notice/final_notice",  # one try left: access ends after it
        "-",  # the last try: the subscription's end tells (canceled, or access paused)
    ]
    assert told(policy, 1, retry_left=False, billing_reason="subscription_create") == "payment_failed/payment_failed"


def test_the_sequence_is_configured_and_bad_configurations_are_refused() -> None:
    policy = NoticePolicy.from_settings(
        settings(
            PAYWIRE_DUNNING_ATTEMPTS=5, PAYWIRE_DUNNING_NOTICES="1=payment_failed,3=second_notice,last=final_notice"
        )
    )
    assert [told(policy, n) for n in range(1, 5)] == [
        "payment_failed/payment_failed",
        "-",
        "payment_failed/second_notice",
        "final_notice/final_notice",
    ]
    for bad in ("0=payment_failed", "first=payment_failed", "1=../etc"):
        with pytest.raises(ConfigError, match="PAYWIRE_DUNNING_NOTICES"):
            settings(PAYWIRE_DUNNING_NOTICES=bad)
    with pytest.raises(ConfigError, match="PAYWIRE_STRIPE_EMAILS"):
        settings(PAYWIRE_STRIPE_EMAILS="welcome")
    with pytest.raises(ConfigError, match="PAYWIRE_TEST_CLOCKS"):
        load_settings(_env_file=None, STRIPE_SECRET_KEY=LIVE_SHAPED_KEY, PAYWIRE_TEST_CLOCKS=True)


def test_what_stripe_sends_itself_is_not_sent_again() -> None:
    policy = NoticePolicy.from_settings(settings(PAYWIRE_STRIPE_EMAILS="payment_failed,receipt"))
    assert told(policy, 1) == "-"
    assert told(policy, 7) == "-", "the final warning is Stripe's failed-payment mail too"
    assert "Stripe sends it" in str(notice_for("receipt", {}, policy))
    assert isinstance(notice_for("payment_recovered", {"attempt_count": 2}, policy), Notice)
    assert isinstance(notice_for("trial_will_end", {}, policy), Notice)


def fact(kind: str, payload: dict[str, Any]) -> ClaimedFact:
    return ClaimedFact(1, kind, f"{kind}:in_1:2", "user_1", "in_1", payload, 1)


class NoRows:
    def get(self, *_: Any) -> None:
        return None


def test_mails_carry_the_brand_inlined_css_and_both_parts(tmp_path: Path) -> None:
    configured = settings(
        PAYWIRE_PRODUCT_NAME="Acme Notes",
        PAYWIRE_PRODUCT_LOGO_URL="https://acme.example/logo.png",
        PAYWIRE_BRAND_COLOR="#0f766e",
        PAYWIRE_SUPPORT_EMAIL="help@acme.example",
        APP_URL="https://acme.example",
    )
    mail = CustomerMail(configured)
    payload = {"amount_due": 1200, "currency": "usd", "attempt_count": 2, "next_payment_attempt": 1_800_000_000}
    notice = notice_for("payment_failed", payload, mail.policy)
    assert isinstance(notice, Notice)
    rendered = mail.renderer.render(notice.template, mail.values(NoRows(), fact("payment_failed", payload), notice))

    assert rendered.subject == "Second notice: your payment is still failing"
    assert "<style" not in rendered.html, "the stylesheet is inlined"
    assert 'style="' in rendered.html and "#0f766e" in rendered.html
    assert 'src="https://acme.example/logo.png"' in rendered.html and 'alt="Acme Notes"' in rendered.html
    assert "help@acme.example" in rendered.html and "help@acme.example" in rendered.text
    assert "12.00 USD" in rendered.text and "https://acme.example/billing/update-payment?t=" in rendered.text

    message = Mail(
        "a@b.c",
        rendered.subject,
        rendered.text,
        rendered.html,
        message_id("k", "email"),
        {
            "X-Paywire-Notice": "payment_failed",
            "X-Paywire-Attempt": "2",
        },
    ).message("billing@acme.example")
    assert parts_of(message) == ["text/plain", "text/html"]
    assert (message["X-Paywire-Notice"], message["X-Paywire-Attempt"]) == ("payment_failed", "2")
    assert message["Message-ID"] == message_id("k", "email") == message_id("k", "email")


def test_a_template_in_the_users_folder_replaces_the_bundled_one(tmp_path: Path) -> None:
    (tmp_path / "receipt.txt").write_text(
        '{% extends "base.txt" %}{% block subject %}Thanks from {{ product.name }}{% endblock %}'
        "{% block body %}Paid {{ total }}.{% endblock %}"
    )
    mail = CustomerMail(settings(PAYWIRE_EMAIL_TEMPLATES=str(tmp_path), PAYWIRE_PRODUCT_NAME="Acme"))
    payload = {"amount_paid": 500, "currency": "eur"}
    rendered = mail.renderer.render(
        "receipt", mail.values(NoRows(), fact("receipt", payload), Notice("receipt", "receipt"))
    )
    assert rendered.subject == "Thanks from Acme"
    assert rendered.text.startswith("Paid 5.00 EUR.")
    assert "Thank you for your payment" in rendered.html, "the HTML part is still the bundled one"


def test_the_update_link_is_signed_for_one_user_and_expires() -> None:
    configured = settings(PAYWIRE_UPDATE_PAYMENT_LINK_DAYS=30)
    token = update_payment_token(configured, "user_1")
    assert user_of_link(configured, token) == "user_1"
    with pytest.raises(PaymentLinkInvalid, match="not valid"):
        user_of_link(configured, token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1])
    with pytest.raises(PaymentLinkInvalid, match="not valid"):
        user_of_link(settings(PAYWIRE_AUTH_SECRET="another-secret-of-at-least-32-characters"), token)
    old = update_payment_token(configured, "user_1", now=time.time() - 31 * 86400)
    with pytest.raises(PaymentLinkInvalid, match="expired"):
        user_of_link(configured, old)
    with pytest.raises(ApiError):
        read_token(token, SECRET)  # never a bearer token


def test_smtp_retries_a_temporary_failure_then_delivers(mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []
    monkeypatch.setattr(email_module.time, "sleep", pauses.append)
    mail = Mail("a@b.c", "Hello", "text", "<p>html</p>", message_id("k", "email"), {"X-Paywire-Notice": "receipt"})

    with pytest.raises(ConnectionRefusedError):
        SmtpEmailSender("127.0.0.1", port=1, timeout=2).send(mail)
    assert pauses == [0.5, 1.0], "three tries in all"

    SmtpEmailSender("127.0.0.1", port=mailbox.port).send(mail)
    [received] = mailbox.raw
    assert parts_of(received) == ["text/plain", "text/html"]
    assert received["X-Paywire-Notice"] == "receipt"


class Recorded:
    def __init__(self) -> None:
        self.sent: list[Mail] = []

    def send(self, mail: Mail) -> None:
        self.sent.append(mail)


def test_the_3ds_reminder_goes_only_while_the_payment_still_waits(session_factory: sessionmaker[Session]) -> None:
    mail = CustomerMail(settings())
    recorded = Recorded()
    payload = {"invoice_id": "in_1", "amount_due": 900, "currency": "usd", "expires_at": 1_800_000_000}
    reminder = ClaimedFact(1, "payment_action_reminder", "payment_action_reminder:in_1:1", "user_1", "in_1", payload, 1)
    with session_factory() as session:
        customers.add_customer(session, user_id="user_1", stripe_customer_id="cus_1", email="user_1@example.com")
        invoices.write(session, {**INVOICE, "status": "open"}, version=1)
        session.commit()
        detail = mail(ReactionContext(session, recorded), reminder)
        assert detail is not None and detail.startswith("sent payment_action_required: Reminder: your payment")
        invoices.write(session, {**INVOICE, "status": "paid"}, version=2)
        assert (
            mail(ReactionContext(session, recorded), reminder)
            == "the payment was confirmed or has expired: no reminder"
        )
    assert len(recorded.sent) == 1 and "It expires on 15 January 2027." in recorded.sent[0].text
