"""Dunning end to end: stripesim's retry schedule moved through by time travel, a real
`paywire worker` process (killed once mid-way), every webhook delivered three times and
reordered, a real SMTP server. One subscriber is lost, another recovered through the mail's
link and the portal; each notice arrives once per invoice and attempt."""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Callable

import httpx
import pytest
from click.testing import CliRunner

from paywire.cli.main import main
from paywire.stripe import StripeGateway
from paywire.timetravel import Travel, advance
from tests.paywire.conftest import AUTH_SECRET, Service
from tests.paywire.events.conftest import Shop, metric, post_webhook, secret_of, sign, spawn_worker, wait_for
from tests.paywire.mailbox import Mailbox, parts_of
from tests.support.processes import Process
from tests.support.stripesim import TEST_KEY, Sim

# Three retries after the first attempt (the default is Stripe's 8 tries in 2 weeks; fewer keep
# the test short and still reach every notice): attempt 1 "payment failed", 2 the second
# notice, 3 the final warning (one try left), 4 the last try, then the subscription is canceled.
RETRY_DAYS = [1, 3, 5]
__all__ = ["spawn_worker"]  # the fixture, from the events tests
DAY = 86400
UPDATE_LINK = re.compile(r"(http://\S+/billing/update-payment\?t=\S+)")


@pytest.fixture
def dunning_service(make_paywire_service: Callable[..., Service], mailbox: Mailbox, sim: Sim) -> Service:
    sim.control("config", {"invoice_retry_days": RETRY_DAYS, "subscription_after_retries": "canceled"})
    return make_paywire_service(
        with_worker=False,
        PAYWIRE_TEST_CLOCKS="true",
        PAYWIRE_DUNNING_ATTEMPTS=len(RETRY_DAYS) + 1,
        PAYWIRE_RECOVERY_INTERVAL=0,
    )


def worker_env(service: Service, mailbox: Mailbox, **extra: str) -> dict[str, str]:
    return {
        "APP_URL": service.url,
        "PAYWIRE_AUTH_SECRET": AUTH_SECRET,
        "PAYWIRE_EMAIL_BACKEND": "smtp",
        "PAYWIRE_SMTP_HOST": "127.0.0.1",
        "PAYWIRE_SMTP_PORT": str(mailbox.port),
        "PAYWIRE_DUNNING_ATTEMPTS": str(len(RETRY_DAYS) + 1),
        "PAYWIRE_WORKER_RETRY_BASE": "0.2",
        # A dead worker's claims (events, facts) are taken over after this long.
        "PAYWIRE_WORKER_LEASE_SECONDS": "5",
        **extra,
    }


def subscribe_with_failing_card(service: Service, sim: Sim, user_id: str) -> tuple[Shop, str, int]:
    """A Pro subscriber (paid with 4242) whose card then starts failing: the subscription's
    default payment method is `pm_card_chargeCustomerFail`. Returns the subscription and its
    period end."""
    shop = Shop(service, sim, user_id)
    session_id = shop.checkout({"plan": "pro", "interval": "month"})
    assert shop.pay(session_id).status_code == 200
    wait_for("access", lambda: shop.billing()["access"])
    client = sim.client()
    subscription_id = str(client.v1.checkout.sessions.retrieve(session_id).subscription)
    subscription = client.v1.subscriptions.retrieve(subscription_id)
    failing = client.v1.payment_methods.attach("pm_card_chargeCustomerFail", params={"customer": subscription.customer})
    client.v1.subscriptions.update(subscription_id, params={"default_payment_method": failing.id})
    return shop, subscription_id, int(subscription["items"].data[0].current_period_end)


def deliver_again(service: Service, sim: Sim, seen: set[str]) -> None:
    """Every event not yet re-sent gets one more signed delivery (stripesim sends each twice)."""
    for event in sim.client().v1.events.list(params={"limit": 100}).auto_paging_iter():
        if event.id in seen:
            continue
        seen.add(event.id)
        raw = _raw_event(sim, event.id)
        assert post_webhook(service, raw, sign(raw, secret_of(service))).status_code == 200


def _raw_event(sim: Sim, event_id: str) -> bytes:
    answer = httpx.get(
        f"{sim.url}/v1/events/{event_id}", headers={"Authorization": f"Bearer {TEST_KEY}"}, trust_env=False
    )
    answer.raise_for_status()
    return answer.content


def travel(service: Service, user_id: str, to: int) -> Travel:
    return advance(
        service.settings, service.sessions, StripeGateway.from_settings(service.settings), user_id=user_id, to=to
    )


def notices(mailbox: Mailbox, user_id: str) -> list[tuple[str, str, str]]:
    return [(m["notice"], m["attempt"], m["subject"]) for m in mailbox.received_by(f"{user_id}@example.com")]


def dunning_only(told: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    return [t for t in told if t[0] not in ("access_granted", "receipt")]


def test_a_failed_renewal_is_dunned_once_per_attempt_then_lost_or_recovered_by_the_mail_link(
    dunning_service: Service, sim: Sim, mailbox: Mailbox, spawn_worker: Callable[..., Process]
) -> None:
    service = dunning_service
    sim.control("faults", {"webhooks": {"duplicate_rate": 1.0, "reorder_window_ms": 200}})
    resent: set[str] = set()
    worker = spawn_worker(service, "worker-1", **worker_env(service, mailbox))
    lost_shop, lost_sub, lost_end = subscribe_with_failing_card(service, sim, "dunned_lost")
    kept_shop, _kept_sub, kept_end = subscribe_with_failing_card(service, sim, "dunned_kept")
    wait_for("the welcomes and receipts", lambda: len(mailbox.received_by("dunned_kept@example.com")) == 2)

    # The renewal fails (attempt 1). The worker dies right after handing its first mail to the
    # SMTP server, before recording it; the next worker sends it again (same Message-ID).
    worker.stop()
    crashing = spawn_worker(
        service, "worker-crashing", **worker_env(service, mailbox, PAYWIRE_TEST_CRASH_AT="reaction_done_before_record")
    )
    moved: list[Travel] = []
    mover = threading.Thread(target=lambda: moved.append(travel(service, "dunned_lost", lost_end + 2 * 3600)))
    mover.start()
    wait_for("the crash after the first mail", lambda: crashing.proc.poll() is not None, timeout=120)
    assert crashing.proc.returncode == -signal.SIGKILL
    spawn_worker(service, "worker-2", **worker_env(service, mailbox))
    mover.join(timeout=180)
    assert moved, "the first move finished"
    deliver_again(service, sim, resent)

    start = lost_end + 3600  # the renewal's first attempt, an hour after the period ended
    for day in RETRY_DAYS:
        moved.append(travel(service, "dunned_lost", start + day * DAY + 60))
        deliver_again(service, sim, resent)

    told = dunning_only(notices(mailbox, "dunned_lost"))
    assert [(notice, attempt) for notice, attempt, _ in told] == [
        ("payment_failed", "1"),
        ("payment_failed", "2"),
        ("final_notice", "3"),
        ("subscription_canceled", ""),
    ]
    assert [subject for *_, subject in told] == [
        "Payment failed: please update your card",
        "Second notice: your payment is still failing",
        told[2][2],
        "Your subscription was canceled: payment failed",
    ]
    assert told[2][2].startswith("Final warning: your access ends on ")
    repeated = [m for m in mailbox.messages if m["to"] == "dunned_lost@example.com"]
    assert len(repeated) > len(told) + 2, "the crashed worker's mail came twice, with one Message-ID"
    wait_for("access ended", lambda: not lost_shop.billing()["access"])
    assert lost_shop.billing()["state"] == "canceled"
    assert "payment_failed:" in " ".join(moved[1].untold) or moved[1].mails, "each move says what it did"
    assert any("subscription_canceled" in m for m in moved[-1].mails)
    assert any(f"{lost_sub}" in s and "→ canceled" in s for s in moved[-1].subscriptions)

    # The other subscriber's renewal fails too (moved by the command), and they follow the
    # first notice's link to the portal's card update.
    moved_by_command = CliRunner().invoke(
        main,
        ["clock", "advance", "--user", "dunned_kept", "--to", str(kept_end + 2 * 3600)],
        env={
            "STRIPE_SECRET_KEY": TEST_KEY,
            "STRIPE_API_BASE": sim.url,
            "DATABASE_URL": service.settings.database_url,
            "APP_URL": service.url,
            "PAYWIRE_DEV": "false",
        },
    )
    assert moved_by_command.exit_code == 0, moved_by_command.output
    assert "Stripe's clock is ready, the worker has caught up" in moved_by_command.output
    assert "payment_failed attempt 1: Payment failed: please update your card" in moved_by_command.output
    [first] = [m for m in mailbox.received_by("dunned_kept@example.com") if m["notice"] == "payment_failed"]
    link = UPDATE_LINK.search(mailbox.text_of(first["id"]))
    assert link is not None
    with httpx.Client(trust_env=False, timeout=30, follow_redirects=True) as browser:
        portal = browser.get(link.group(1))
        assert portal.status_code == 200 and str(portal.url).endswith("/payment-method"), portal.url
        saved = browser.post(
            str(portal.url), data={"card_number": "4242 4242 4242 4242", "card_expiry": "12/34", "card_cvc": "123"}
        )
        assert str(saved.url).startswith(service.url + "/account"), "back to the account page"
    wait_for("access back", lambda: kept_shop.billing()["state"] == "active" and kept_shop.billing()["access"])
    wait_for(
        "the recovery notice",
        lambda: (
            ("payment_recovered", "", "Payment recovered: your Pro access is back") in notices(mailbox, "dunned_kept")
        ),
    )
    assert [n for n, _, _ in dunning_only(notices(mailbox, "dunned_kept"))] == ["payment_failed", "payment_recovered"]

    for message in mailbox.raw:
        assert message.get_content_type() == "multipart/alternative"
        assert parts_of(message) == ["text/plain", "text/html"]
    wait_for("one recovered", lambda: metric(service, "paywire_dunning_recovered_invoices", by="card_update") == 1)
    assert metric(service, "paywire_dunning_lost_invoices") == 1
    assert metric(service, "paywire_dunning_failed_invoices") == 2
    assert metric(service, "paywire_dunning_recovered_amount", currency="usd") > 0
