"""Capture the event fixtures of paywire's handler tests from real flows through stripesim.

Regenerate them all with one command, from the repository root (or only some, naming their
event types: `… capture_event_fixtures.py payout.failed account.updated`):

    .venv/bin/python tools/capture_event_fixtures.py

It writes `tests/paywire/fixtures/events/<event_type>.json` for every event type paywire
handles (the modules of `paywire.events.handlers`), each `{"event": …, "stripe": …}`:

- `event`: the event exactly as stripesim delivered it to a webhook endpoint (signed, checked
  here), API version 2026-10-28.endive;
- `stripe`: what its handler re-reads, read through paywire's own gateway right after the event,
  as the worker would: `{<paywire.stripe.Kind value>: {<id>: object}}`, and `refunds` (the list
  `list_refunds_of_payment` answers) for `charge.refunded`. A read Stripe answers 404 for is
  left out: the handler finds the object gone.

How: stripesim runs on a free port (`python -m stripesim.cli`, as the test suite starts it),
paywire's catalog is pushed to it, a webhook endpoint points at a small receiver here, and the
flows below drive it with the official `stripe` SDK: checkouts paid with test cards, test clocks
advanced to a trial's end and a renewal, a card that fails once attached, 3-D Secure, pending
updates, schedules, a refund, a dispute. Each flow marks where it starts and takes the first
event of a type after that point, right after the step that sends it.

Event types stripesim never sends are derived from a produced sibling and say so in a
`_derived_from` field (the sibling and every change made); the run lists them at the end.

Stable output: customers live on test clocks frozen at `START`, so their objects carry the same
times on every run; ids, which stripesim draws at random, are renamed in each fixture by the
order they first appear (one id keeps one new id throughout the file, URLs and client secrets
included), and stripesim's address becomes `http://stripesim.test`. A regeneration then changes
only what the flows changed, and the times of the catalog's products and prices (created at the
real time).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import secrets
import string
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import stripe

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test suite's stripesim helpers

from tests.support.processes import Process, free_port, python_module, wait_http  # noqa: E402
from tests.support.stripesim import TEST_KEY, Sim  # noqa: E402

from paywire.billing.checkout_sessions import (  # noqa: E402
    purchase_checkout_params,
    subscription_checkout_params,
)
from paywire.billing.marketplace import Line, checkout_params  # noqa: E402
from paywire.catalog import load_catalog  # noqa: E402
from paywire.catalog.sync import push  # noqa: E402
from paywire.db.models import Seller  # noqa: E402
from paywire.events.handlers import HANDLERS  # noqa: E402
from paywire.stripe import Kind, StripeGateway, StripeNotFound  # noqa: E402
from paywire.stripe.ids import id_of  # noqa: E402

OUT = ROOT / "tests" / "paywire" / "fixtures" / "events"
START = 1793610000  # 2026-11-02T09:00:00Z, after the API version's release
DAY = 24 * 3600
APP = "https://app.example.com"
SIM_ADDRESS = "http://stripesim.test"

# Captured siblings that are not fixtures themselves, for deriving the types stripesim never sends.
PAID_PASS = "the one-time pass's Checkout Session, paid by card"
OPEN_INVOICE = "an invoice sent for payment in 30 days, just finalized"

CARD_OK = "pm_card_visa"
CARD_FAILS_LATER = "pm_card_chargeCustomerFail"  # attaches, then every charge is declined
CARD_3DS_ALWAYS = "4000002760003184"
CARD_DECLINED = "4000000000000002"
CARD_DISPUTED = "4000000000000259"
CARD_REFUND_FAILS = "4000000000005126"  # the refund shows succeeded, then fails (refund.failed)

# The id prefixes stripesim draws (`new_record(…, prefix)`), longest first for the pattern.
ID_PREFIXES = (
    *("sub_sched", "cs_test", "inpay", "price", "promo", "clock", "acct", "prod", "seti"),
    *("bpc", "bps", "cus", "evt", "fee", "mtr", "req", "sub", "trr", "txn", "txr"),
    *("ba", "ch", "di", "dp", "fr", "ii", "il", "in", "li", "pi", "pm", "po", "re", "si", "tr", "we"),
)
ID = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(ID_PREFIXES) + r")_([A-Za-z0-9]{14,58})(?![A-Za-z0-9])")
SECRET = re.compile(r"_secret_([A-Za-z0-9]{16,32})(?![A-Za-z0-9])")
UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")  # the SDK's idempotency keys
BASE62 = string.ascii_letters + string.digits
HEX = "0123456789abcdef"


@dataclass
class Captured:
    event: dict[str, Any]
    stripe: dict[str, Any]
    derived_from: dict[str, Any] | None = None
    # What a Connect handler reads through `gateway.connect` ({kind: {id: object}}: the account
    # as v2 shows it, transfers, application fees, payouts, balances by account, disputes).
    connect: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.derived_from is not None:
            found["_derived_from"] = self.derived_from
        found["event"] = self.event
        found["stripe"] = self.stripe
        if self.connect:
            found["connect"] = self.connect
        return found


class Receiver:
    """A webhook endpoint on 127.0.0.1: keeps the first delivery of every event, as sent."""

    def __init__(self) -> None:
        self.bodies: dict[str, bytes] = {}
        self.secrets: list[str] = []  # the platform endpoint's, and the Connect endpoint's
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver.verify(body, self.headers.get("stripe-signature", ""))
                event_id = json.loads(body)["id"]
                receiver.bodies.setdefault(event_id, body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def verify(self, body: bytes, signature: str) -> None:
        for secret in self.secrets:
            try:
                stripe.WebhookSignature.verify_header(body.decode(), signature, secret, tolerance=None)
                return
            except stripe.SignatureVerificationError:
                continue
        raise stripe.SignatureVerificationError("no endpoint's secret matched", signature)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/stripe"

    def close(self) -> None:
        self.server.shutdown()


class Capture:
    """The flows' view of stripesim: the SDK to drive it, paywire's gateway to re-read, and
    what was captured so far, by name (an event type, or a sibling kept for deriving)."""

    def __init__(self, sim: Sim, receiver: Receiver) -> None:
        self.sim = sim
        self.client = sim.client()
        self.gateway = StripeGateway(TEST_KEY, api_base=sim.url, max_network_retries=0)
        self.receiver = receiver
        self.captured: dict[str, Captured] = {}
        self.start_ids: set[str] = set()
        self.catalog = load_catalog()
        self.prices: dict[str, str] = {}

    def setup(self) -> None:
        endpoint = self.client.v1.webhook_endpoints.create(params={"url": self.receiver.url, "enabled_events": ["*"]})
        connect = self.client.v1.webhook_endpoints.create(
            params={"url": self.receiver.url + "?connect=1", "enabled_events": ["*"], "connect": True}
        )
        self.receiver.secrets = [str(endpoint.secret), str(connect.secret)]
        push(self.catalog, self.gateway)
        found = self.gateway.list_prices_by_lookup_keys(self.catalog.lookup_keys())
        self.prices = {key: price["id"] for key, price in found.items()}

    def clock(self, name: str) -> Any:
        return self.client.v1.test_helpers.test_clocks.create(params={"frozen_time": START, "name": name})

    def customer(self, user_id: str, clock: Any, payment_method: str | None = None) -> Any:
        """A customer as paywire creates one (metadata.user_id), on `clock`, with a default card."""
        customer = self.client.v1.customers.create(
            params={"email": f"{user_id}@example.com", "metadata": {"user_id": user_id}, "test_clock": clock.id}
        )
        if payment_method is not None:
            self.give_card(customer, payment_method)
        return customer

    def give_card(self, customer: Any, payment_method: str) -> Any:
        pm = self.client.v1.payment_methods.attach(payment_method, params={"customer": customer.id})
        self.client.v1.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": pm.id}})
        return pm

    def subscribe(self, customer: Any, user_id: str, lookup_key: str, quantity: int = 1, **params: Any) -> Any:
        plan, interval = lookup_key.split("_")
        return self.client.v1.subscriptions.create(
            params={
                "customer": customer.id,
                "items": [{"price": self.prices[lookup_key], "quantity": quantity}],
                "metadata": {"user_id": user_id, "plan": plan, "interval": interval},
                **params,
            }
        )

    def advance(self, clock: Any, to: int) -> None:
        self.sim.advance(self.client, clock.id, to)

    def mark(self) -> None:
        """Events from here on belong to the next flow."""
        self.settle()
        self.start_ids = {e["id"] for e in self.events()}

    def settle(self) -> None:
        deadline = time.monotonic() + 30
        while self.sim.get("webhooks/attempts")["pending"]:
            if time.monotonic() > deadline:
                raise RuntimeError("stripesim still delivering webhooks after 30 s")
            time.sleep(0.05)

    def events(self) -> list[dict[str, Any]]:
        """Every event stripesim keeps, oldest first."""
        found = [e.to_dict() for e in self.client.v1.events.list(params={"limit": 100}).auto_paging_iter()]
        return list(reversed(found))

    def account_events(self, account: str) -> list[dict[str, Any]]:
        """Every event of a connected account (its own `/v1/events`), oldest first."""
        listed = self.client.v1.events.list(params={"limit": 100}, options={"stripe_account": account})
        return list(reversed([e.to_dict() for e in listed.auto_paging_iter()]))

    def take(self, event_type: str, sibling: str | None = None, account: str | None = None) -> Captured:
        """The first `event_type` event since the mark, as delivered, with its handler's
        re-reads. `sibling`: keep it under that description, only to derive others from.
        `account`: an event of that connected account (a Connect event)."""
        self.settle()
        for listed in self.account_events(account) if account else self.events():
            if listed["type"] == event_type and listed["id"] not in self.start_ids:
                event = json.loads(self.receiver.bodies[listed["id"]])
                break
        else:
            raise RuntimeError(f"the flow sent no {event_type}")
        captured = Captured(event, self.rereads(event), connect=self.connect_rereads(event))
        key = sibling or event_type
        if key in self.captured:
            raise RuntimeError(f"{key} captured twice")
        self.captured[key] = captured
        return captured

    def rereads(self, event: dict[str, Any]) -> dict[str, Any]:
        """What the event's handler re-reads (`paywire.events.handlers`), read now."""
        found: dict[str, Any] = {}

        def read(kind: Kind, object_id: str | None) -> dict[str, Any] | None:
            if not object_id:
                return None
            try:
                obj = self.gateway.retrieve(kind, object_id)
            except StripeNotFound:
                return None
            found.setdefault(kind.value, {})[object_id] = obj
            return obj

        event_type = str(event["type"])
        obj = event["data"]["object"]
        for kind, object_id in HANDLERS[event_type].foreseen(event):
            read(kind, object_id)
        if event_type.startswith("customer.") and not event_type.startswith("customer.subscription."):
            read(Kind.CUSTOMER, obj["id"])
        elif event_type.startswith("checkout.session."):
            session = found[Kind.CHECKOUT_SESSION.value][obj["id"]]
            read(Kind.SUBSCRIPTION, id_of(session.get("subscription")))
            customer = read(Kind.CUSTOMER, id_of(session.get("customer")))
            read(Kind.TEST_CLOCK, id_of((customer or {}).get("test_clock")))
        elif event_type.startswith("payment_intent."):
            read(Kind.PAYMENT_INTENT, obj["id"])
        elif event_type == "charge.refunded":
            found["refunds"] = self.gateway.list_refunds_of_payment(str(obj["payment_intent"]))
        elif event_type.startswith(("refund.", "charge.dispute.")):
            read(Kind.CHARGE, id_of(obj.get("charge")))
        elif event_type.startswith("transfer."):
            read(Kind.CHARGE, id_of(self.gateway.connect.retrieve_transfer(obj["id"]).get("source_transaction")))
        return found

    def connect_rereads(self, event: dict[str, Any]) -> dict[str, Any]:
        """What a Connect handler reads through `gateway.connect` (`paywire.events.connect_appliers`)."""
        found: dict[str, Any] = {}
        event_type = str(event["type"])
        obj = event["data"]["object"]
        account = event.get("account")
        connect = self.gateway.connect

        def keep(kind: str, key: str, read: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
            try:
                held = read()
            except StripeNotFound:
                return None
            found.setdefault(kind, {})[key] = held
            return held

        if event_type == "account.updated":
            keep("account", obj["id"], lambda: connect.retrieve_account(obj["id"]))
        elif event_type.startswith("transfer."):
            transfer = keep("transfer", obj["id"], lambda: connect.retrieve_transfer(obj["id"]))
            account = id_of((transfer or {}).get("destination"))
        elif event_type.startswith("application_fee."):
            fee = keep("application_fee", obj["id"], lambda: connect.retrieve_application_fee(obj["id"]))
            account = id_of((fee or {}).get("account"))
        elif event_type.startswith("payout."):
            keep("payout", obj["id"], lambda: connect.retrieve_payout(str(account), obj["id"]))
        if account and not event_type.startswith(("account.", "charge.")):
            keep("balance", account, lambda: connect.balance(str(account)))
        return found

    def derive(self, event_type: str, sibling: str, why: str, change: Callable[[Captured], list[str]]) -> None:
        """A fixture for a type stripesim never sends, from a captured sibling: its event under
        a new id and the new type, with whatever `change` edits (and lists)."""
        source = self.captured[sibling]
        derived = Captured(copy.deepcopy(source.event), copy.deepcopy(source.stripe))
        derived.event["type"] = event_type
        derived.event["id"] = f"evt_{secrets.token_hex(12)}"
        derived.derived_from = {
            "event": source.event["type"],
            "sibling": f"the {sibling} fixture" if sibling == source.event["type"] else sibling,
            "why": why,
            "changes": [f"type: {source.event['type']} → {event_type}", "id: a new event id", *change(derived)],
        }
        self.captured[event_type] = derived


def no_change(captured: Captured) -> list[str]:
    return []


def set_everywhere(kind: Kind, field: str, value: Any) -> Callable[[Captured], list[str]]:
    """Set `field` on the event's object and on its re-read."""

    def change(captured: Captured) -> list[str]:
        obj = captured.event["data"]["object"]
        before = obj.get(field)
        obj[field] = value
        for reread in captured.stripe.get(kind.value, {}).values():
            if reread["id"] == obj["id"]:
                reread[field] = value
        return [f"{field}: {before!r} → {value!r} in data.object and the re-read {kind.value}"]

    return change


def subscription_checkout(cap: Capture) -> None:
    """A user subscribes to Pro (3 seats) through Checkout as paywire opens it, pays with a card,
    adds seats, changes their email, and cancels."""
    cap.mark()
    clock = cap.clock("subscription checkout")
    cap.take("test_helpers.test_clock.created")
    user = "user_fixture_checkout"
    customer = cap.customer(user, clock)
    cap.take("customer.created")
    params = subscription_checkout_params(
        user_id=user,
        customer_id=customer.id,
        price_id=cap.prices["pro_month"],
        quantity=3,
        plan="pro",
        interval="month",
        trial_days=0,
        automatic_tax=False,
        tax_id_collection=True,
        success_url=f"{APP}/billing/success?session_id={{CHECKOUT_SESSION_ID}}",
        cancel_url=f"{APP}/pricing",
    )
    session = cap.client.v1.checkout.sessions.create(params=params)
    cap.sim.complete_checkout(session.id, "4242424242424242").raise_for_status()
    for event_type in (
        "customer.subscription.created",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
        "checkout.session.completed",
    ):
        cap.take(event_type)
    paid = cap.client.v1.checkout.sessions.retrieve(session.id)
    subscription = cap.client.v1.subscriptions.retrieve(str(paid.subscription))
    cap.mark()
    item = subscription["items"].data[0]
    cap.client.v1.subscriptions.update(
        subscription.id, params={"items": [{"id": item.id, "quantity": 5}], "proration_behavior": "none"}
    )
    cap.take("customer.subscription.updated")
    cap.client.v1.customers.update(customer.id, params={"email": "checkout.renamed@example.com"})
    cap.take("customer.updated")
    cap.client.v1.subscriptions.cancel(subscription.id)
    cap.take("customer.subscription.deleted")


def trial_without_card(cap: Capture) -> None:
    """A 14-day trial without a card: reminded three days before, paused at its end (Stripe's
    `missing_payment_method: pause`), resumed once a card is added."""
    cap.mark()
    clock = cap.clock("trial")
    user = "user_fixture_trial"
    customer = cap.customer(user, clock)
    subscription = cap.subscribe(
        customer,
        user,
        "advanced_month",
        trial_period_days=14,
        trial_settings={"end_behavior": {"missing_payment_method": "pause"}},
    )
    trial_end = int(subscription.trial_end or 0)
    cap.advance(clock, trial_end - 3 * DAY + 3600)
    cap.take("customer.subscription.trial_will_end")
    cap.advance(clock, trial_end + 3600)
    cap.take("customer.subscription.paused")
    cap.give_card(customer, CARD_OK)
    cap.client.v1.subscriptions.resume(subscription.id, params={"billing_cycle_anchor": {"type": "now"}})
    cap.take("customer.subscription.resumed")


def renewal_declined(cap: Capture) -> None:
    """A monthly Basic subscription whose card starts failing: the renewal's charge is declined."""
    cap.mark()
    clock = cap.clock("renewal declined")
    user = "user_fixture_renewal"
    customer = cap.customer(user, clock, CARD_OK)
    subscription = cap.subscribe(customer, user, "basic_month")
    cap.give_card(customer, CARD_FAILS_LATER)
    period_end = int(subscription["items"].data[0].current_period_end)
    cap.advance(clock, period_end + 2 * 3600)  # past the renewal draft's hour of grace
    cap.take("invoice.payment_failed")


def authentication_required(cap: Capture) -> None:
    """A card that asks for 3-D Secure on every charge: the first invoice waits for the customer."""
    cap.mark()
    clock = cap.clock("3-D Secure")
    user = "user_fixture_3ds"
    customer = cap.customer(user, clock)
    pm = cap.client.v1.payment_methods.create(
        params={"type": "card", "card": {"number": CARD_3DS_ALWAYS, "exp_month": 12, "exp_year": 2034}}
    )
    cap.give_card(customer, pm.id)
    cap.subscribe(customer, user, "pro_month", 2, payment_behavior="allow_incomplete")
    cap.take("invoice.payment_action_required")


def upgrade_pending_payment(cap: Capture) -> None:
    """Upgrades that wait for their payment (`pending_if_incomplete`): one paid with another card
    (applied), one left unpaid until it lapses 23 hours later (expired)."""
    clock = cap.clock("pending updates")
    for user, outcome in (("user_fixture_upgrade_paid", "applied"), ("user_fixture_upgrade_lapsed", "expired")):
        customer = cap.customer(user, clock, CARD_OK)
        subscription = cap.subscribe(customer, user, "basic_month")
        cap.give_card(customer, CARD_FAILS_LATER)
        item = subscription["items"].data[0]
        cap.mark()
        updated = cap.client.v1.subscriptions.update(
            subscription.id,
            params={
                "items": [{"id": item.id, "price": cap.prices["pro_month"], "quantity": 1}],
                "proration_behavior": "always_invoice",
                "payment_behavior": "pending_if_incomplete",
            },
        )
        if outcome == "applied":
            cap.client.v1.invoices.pay(str(updated.latest_invoice), params={"payment_method": CARD_OK})
            cap.take("customer.subscription.pending_update_applied")
        else:
            pending = updated.pending_update
            assert pending is not None, "the upgrade should wait for its payment"
            cap.advance(clock, int(pending.expires_at) + 60)
            cap.take("customer.subscription.pending_update_expired")


def scheduled_downgrades(cap: Capture) -> None:
    """Schedules as paywire makes them for a downgrade at the period end: created, given their
    phases, released; one ending the subscription when it completes; one canceled."""
    clock = cap.clock("schedules")

    def scheduled(user: str, end_behavior: str) -> tuple[Any, Any]:
        customer = cap.customer(user, clock, CARD_OK)
        subscription = cap.subscribe(customer, user, "pro_month", 2)
        item = subscription["items"].data[0]
        schedule = cap.client.v1.subscription_schedules.create(params={"from_subscription": subscription.id})
        phases = [
            {
                "items": [{"price": cap.prices["pro_month"], "quantity": 2}],
                "start_date": int(item.current_period_start),
                "end_date": int(item.current_period_end),
                "proration_behavior": "none",
            },
            {
                "items": [{"price": cap.prices["basic_month"], "quantity": 1}],
                "iterations": 1,
                "proration_behavior": "none",
                "metadata": {"paywire_plan": "basic", "paywire_interval": "month"},
            },
        ]
        cap.client.v1.subscription_schedules.update(
            schedule.id, params={"phases": phases, "end_behavior": end_behavior}
        )
        return schedule, subscription

    cap.mark()
    released, _ = scheduled("user_fixture_downgrade", "release")
    cap.take("subscription_schedule.created")
    cap.take("subscription_schedule.updated")
    cap.client.v1.subscription_schedules.release(released.id)
    cap.take("subscription_schedule.released")
    cap.mark()
    canceled, _ = scheduled("user_fixture_schedule_canceled", "release")
    cap.client.v1.subscription_schedules.cancel(canceled.id)
    cap.take("subscription_schedule.canceled")
    cap.mark()
    completing, _ = scheduled("user_fixture_schedule_completed", "cancel")
    last_phase_end = int(cap.client.v1.subscription_schedules.retrieve(completing.id).phases[-1].end_date)
    cap.advance(clock, last_phase_end + 3600)
    cap.take("subscription_schedule.completed")


def invoices_by_hand(cap: Capture) -> None:
    """Invoices sent for payment (30 days to pay), one edited, finalized and voided; one marked
    uncollectible; a draft deleted."""
    clock = cap.clock("invoices")
    user = "user_fixture_invoices"
    customer = cap.customer(user, clock)

    def draft(description: str) -> Any:
        invoice = cap.client.v1.invoices.create(
            params={
                "customer": customer.id,
                "collection_method": "send_invoice",
                "days_until_due": 30,
                "auto_advance": False,
                "description": description,
                "metadata": {"user_id": user},
            }
        )
        cap.client.v1.invoice_items.create(
            params={"customer": customer.id, "invoice": invoice.id, "amount": 2500, "currency": "usd"}
        )
        return invoice

    cap.mark()
    invoice = draft("Onboarding workshop")
    cap.client.v1.invoices.update(invoice.id, params={"metadata": {"user_id": user, "po_number": "PO-1042"}})
    cap.take("invoice.updated")
    cap.client.v1.invoices.finalize_invoice(invoice.id)
    cap.take("invoice.finalized", sibling=OPEN_INVOICE)
    cap.client.v1.invoices.void_invoice(invoice.id)
    cap.take("invoice.voided")
    cap.mark()
    unpaid = draft("Consulting, October")
    cap.client.v1.invoices.finalize_invoice(unpaid.id)
    cap.client.v1.invoices.mark_uncollectible(unpaid.id)
    cap.take("invoice.marked_uncollectible")
    cap.mark()
    dropped = draft("Draft sent by mistake")
    cap.client.v1.invoices.delete(dropped.id)
    cap.take("invoice.deleted")


def one_time_pass(cap: Capture) -> None:
    """The 3-month pass bought through Checkout as paywire opens it: paid and refunded in full;
    declined, then abandoned; paid with a card whose payment is later disputed."""
    clock = cap.clock("passes")
    product = cap.catalog.products["pass-3-months"]

    def checkout(user: str) -> Any:
        customer = cap.customer(user, clock)
        params = purchase_checkout_params(
            user_id=user,
            customer_id=customer.id,
            price_id=cap.prices[product.lookup_key],
            product=product.key,
            automatic_tax=False,
            tax_id_collection=True,
            success_url=f"{APP}/billing/success?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"{APP}/pricing",
        )
        return cap.client.v1.checkout.sessions.create(params=params)

    cap.mark()
    session = checkout("user_fixture_pass")
    cap.sim.complete_checkout(session.id, "4242424242424242").raise_for_status()
    cap.take("checkout.session.completed", sibling=PAID_PASS)
    cap.take("payment_intent.succeeded")
    paid = cap.client.v1.checkout.sessions.retrieve(session.id)
    cap.client.v1.refunds.create(params={"payment_intent": str(paid.payment_intent), "reason": "requested_by_customer"})
    cap.take("charge.refunded")

    cap.mark()
    abandoned = checkout("user_fixture_pass_declined")
    declined = cap.sim.complete_checkout(abandoned.id, CARD_DECLINED)
    assert declined.status_code == 402, declined.text
    cap.take("payment_intent.payment_failed")
    cap.client.v1.checkout.sessions.expire(abandoned.id)
    cap.take("checkout.session.expired")

    cap.mark()
    disputed = checkout("user_fixture_pass_disputed")
    cap.sim.complete_checkout(disputed.id, CARD_DISPUTED).raise_for_status()
    cap.advance(clock, START + DAY)
    cap.take("charge.dispute.created")
    cap.take("charge.dispute.funds_withdrawn")
    [dispute] = cap.client.v1.disputes.list(params={"limit": 1}).data
    cap.client.v1.disputes.update(
        dispute.id, params={"evidence": {"uncategorized_text": "The customer used the pass."}, "submit": False}
    )
    cap.take("charge.dispute.updated")
    cap.sim.control(f"disputes/{dispute.id}/decide", {"outcome": "won"})
    cap.take("charge.dispute.closed")
    cap.take("charge.dispute.funds_reinstated")

    cap.mark()
    failing = checkout("user_fixture_pass_refund_fails")
    cap.sim.complete_checkout(failing.id, CARD_REFUND_FAILS).raise_for_status()
    paid = cap.client.v1.checkout.sessions.retrieve(failing.id)
    cap.client.v1.refunds.create(params={"payment_intent": str(paid.payment_intent), "reason": "duplicate"})
    cap.take("refund.created")
    cap.advance(clock, START + DAY + 3600)
    cap.take("refund.updated")
    cap.take("refund.failed")


def payment_canceled(cap: Capture) -> None:
    """A payment intent created for a customer and canceled before it was confirmed."""
    cap.mark()
    clock = cap.clock("canceled payment")
    customer = cap.customer("user_fixture_canceled_payment", clock)
    intent = cap.client.v1.payment_intents.create(
        params={"amount": 400, "currency": "usd", "customer": customer.id, "payment_method_types": ["card"]}
    )
    cap.client.v1.payment_intents.cancel(intent.id, params={"cancellation_reason": "abandoned"})
    cap.take("payment_intent.canceled")


def customer_and_clock_removed(cap: Capture) -> None:
    """A test clock advanced a day and deleted; a customer deleted."""
    cap.mark()
    clock = cap.clock("advanced and deleted")
    customer = cap.customer("user_fixture_deleted", clock)
    cap.advance(clock, START + DAY)  # waits until ready: the advancing event is read late, as a worker would
    cap.take("test_helpers.test_clock.advancing")
    cap.take("test_helpers.test_clock.ready")
    cap.client.v1.customers.delete(customer.id)
    cap.take("customer.deleted")
    cap.client.v1.test_helpers.test_clocks.delete(clock.id)
    cap.take("test_helpers.test_clock.deleted")


def marketplace(cap: Capture) -> None:
    """Two sellers onboard (Accounts v2); a buyer pays one $100 for a session with a 15 % fee (a
    destination charge, as paywire opens it), half of it is refunded (transfer and fee reversed by
    share); the seller's funds become available and are paid out; the other seller's bank account
    refuses the payout."""
    product = cap.catalog.marketplace_products["session-60"]

    def seller(user: str, bank_account: str) -> str:
        account = cap.gateway.connect.create_account(
            user_id=user, email=f"{user}@example.com", display_name=user, country="US", idempotency_key=f"{user}:acct"
        )
        cap.sim.control(f"accounts/{account['id']}/onboard", {"outcome": "enabled", "bank_account": bank_account})
        return str(account["id"])

    def sale(account: str, buyer: str) -> Any:
        details = {"email": f"{buyer}@example.com", "metadata": {"user_id": buyer}}
        customer = cap.client.v1.customers.create(params=details)  # type: ignore[arg-type]
        line = Line(product, Seller(id=account, user_id=f"seller_of_{buyer}"), product.price, 1500)
        params = checkout_params(
            [line],
            user_id=buyer,
            customer_id=customer.id,
            price_ids=[cap.prices[product.lookup_key]],
            transfer_group=f"order_{buyer}",
            on_behalf_of=False,
            success_url=f"{APP}/marketplace?checkout=done",
            cancel_url=f"{APP}/marketplace",
        )
        session = cap.client.v1.checkout.sessions.create(params=params)
        cap.sim.complete_checkout(session.id, "4242424242424242").raise_for_status()
        paid = cap.client.v1.checkout.sessions.retrieve(session.id)
        return cap.client.v1.payment_intents.retrieve(str(paid.payment_intent))

    cap.mark()
    account = seller("user_fixture_seller", "000123456789")
    cap.take("account.updated", account=account)
    intent = sale(account, "user_fixture_buyer")
    cap.take("transfer.created")
    cap.take("application_fee.created")
    cap.client.v1.refunds.create(
        params={
            "charge": str(intent.latest_charge),
            "amount": 5000,
            "reverse_transfer": True,
            "refund_application_fee": True,
        }
    )
    cap.take("transfer.reversed")
    cap.take("application_fee.refunded")
    cap.sim.control(f"accounts/{account}/payouts", {"arrive": True})
    cap.take("balance.available", account=account)
    cap.take("payout.created", account=account)
    cap.take("payout.paid", account=account)
    failing = seller("user_fixture_seller_bad_bank", "000111111116")
    sale(failing, "user_fixture_buyer_two")
    cap.sim.control(f"accounts/{failing}/payouts", {"arrive": True})
    cap.take("payout.failed", account=failing)


FLOWS = [
    subscription_checkout,
    trial_without_card,
    renewal_declined,
    authentication_required,
    upgrade_pending_payment,
    scheduled_downgrades,
    invoices_by_hand,
    one_time_pass,
    payment_canceled,
    customer_and_clock_removed,
    marketplace,
]


def derive_the_rest(cap: Capture) -> None:
    """The event types stripesim does not send, each from the closest sibling it does."""
    cap.derive(
        "checkout.session.async_payment_succeeded",
        PAID_PASS,
        "stripesim has no delayed payment methods; Stripe sends this for a session that completed "
        "unpaid and was paid later, when it looks as a paid card checkout does",
        no_change,
    )
    cap.derive(
        "checkout.session.async_payment_failed",
        PAID_PASS,
        "stripesim has no delayed payment methods; Stripe sends this for a completed session whose "
        "delayed payment then failed: complete, unpaid",
        set_everywhere(Kind.CHECKOUT_SESSION, "payment_status", "unpaid"),
    )
    cap.derive(
        "invoice.overdue",
        OPEN_INVOICE,
        "stripesim does not send invoice.overdue; Stripe sends it about an open invoice past its due date",
        no_change,
    )
    cap.derive(
        "invoice.will_be_due",
        OPEN_INVOICE,
        "stripesim does not send invoice.will_be_due; Stripe sends it about an open invoice before its due date",
        no_change,
    )
    cap.derive(
        "subscription_schedule.aborted",
        "subscription_schedule.canceled",
        "stripesim does not send subscription_schedule.aborted; Stripe sends it when a schedule's "
        "subscription is canceled outside it, leaving the schedule canceled as this sibling's is",
        no_change,
    )
    cap.derive(
        "subscription_schedule.expiring",
        "subscription_schedule.updated",
        "stripesim does not send subscription_schedule.expiring; Stripe sends it 7 days before an "
        "active schedule's end, about a schedule as this sibling's",
        no_change,
    )
    cap.derive(
        "test_helpers.test_clock.internal_failure",
        "test_helpers.test_clock.ready",
        "stripesim's clocks never fail; Stripe sends this when a clock could not advance, leaving it "
        "in status internal_failure",
        set_everywhere(Kind.TEST_CLOCK, "status", "internal_failure"),
    )


def stable(text: str, seed: str, sim_url: str) -> str:
    """`text` with stripesim's address fixed, and every id and idempotency key drawn at random
    renamed, by order of first appearance, to one derived from `seed` (the event type) and that
    order."""
    text = text.replace(sim_url, SIM_ADDRESS)
    renamed: dict[str, str] = {}

    def rename(old: str, alphabet: str) -> str:
        if old not in renamed:
            digest = hashlib.shake_256(f"{seed}:{len(renamed)}".encode()).digest(len(old))
            renamed[old] = "".join(alphabet[b % len(alphabet)] for b in digest)
        return renamed[old]

    text = ID.sub(lambda m: f"{m.group(1)}_{rename(m.group(2), BASE62)}", text)
    text = SECRET.sub(lambda m: f"_secret_{rename(m.group(1), BASE62)}", text)
    return UUID.sub(lambda m: as_uuid(rename(m.group(0).replace("-", ""), HEX)), text)


def as_uuid(hex_digits: str) -> str:
    h = hex_digits
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def write(cap: Capture, only: list[str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for event_type in sorted(only or HANDLERS):
        text = json.dumps(cap.captured[event_type].as_json(), indent=1, ensure_ascii=False) + "\n"
        (OUT / f"{event_type}.json").write_text(stable(text, event_type, cap.sim.url))


def main(only: list[str]) -> int:
    """`only`: the event types whose fixtures to write (default: every one)."""
    port = free_port()
    log = Path("/tmp") / f"stripesim-capture-{port}.log"
    process = Process(python_module("stripesim.cli", "--port", str(port), "--log-level", "warning"), log)
    receiver = Receiver()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/_sim/health", proc=process.proc)
        cap = Capture(Sim(url, process), receiver)
        cap.setup()
        for flow in FLOWS:
            flow(cap)
        derive_the_rest(cap)
        missing = sorted(set(HANDLERS) - set(cap.captured))
        if missing:
            raise RuntimeError(f"no fixture for {', '.join(missing)}")
        write(cap, only)
    finally:
        receiver.close()
        process.stop()
    derived = sorted(t for t in HANDLERS if cap.captured[t].derived_from is not None)
    print(f"wrote {len(HANDLERS)} fixtures to {OUT.relative_to(ROOT)}")
    print(f"produced by stripesim ({len(HANDLERS) - len(derived)}):")
    for event_type in sorted(set(HANDLERS) - set(derived)):
        print(f"  {event_type}")
    print(f"derived, as stripesim never sends them ({len(derived)}):")
    for event_type in derived:
        source = cap.captured[event_type].derived_from or {}
        print(f"  {event_type} <- {source['event']} ({source['sibling']})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
