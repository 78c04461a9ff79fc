"""Advancing one user's test clock, and the account of what it did.

With `PAYWIRE_TEST_CLOCKS=true` each new customer lives on a Stripe test clock of its own
(`paywire.billing.customers`), so moving it moves nobody else. `advance`:
1. refuses a live key, a user without a customer or without a clock, a move backwards;
2. notes the user's subscriptions and invoices as the mirror has them;
3. asks Stripe to advance the clock and waits until Stripe says it is `ready`;
4. lists the events the move made for this customer (created, in the clock's time, between
   the old and the new time) and waits until the worker has processed every one of them, and
   until the facts they recorded for the user have had their reactions (mail sent or not);
5. says what changed: events, invoices (attempts, next try), subscription states, mails.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from paywire.config import Settings
from paywire.db.models import Invoice, OutboxFact, ReactionRecord, Subscription, WebhookEvent, utcnow
from paywire.db.repositories import customers
from paywire.events.inbox import FINAL_STATES
from paywire.stripe import Kind, StripeGateway
from paywire.stripe.ids import id_of

POLL_SECONDS = 0.2
# A move stops at each billing moment on the way (a renewal, an invoice's finalization, each
# retry, a trial's end), a minute after it, so that the worker handles each as it would live.
STEP_AFTER_SECONDS = 60
MAX_STEPS = 100
SPAN = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class ClockRefused(Exception):
    """Time travel is not possible here (live key, no clock, backwards, timed out)."""


def parse_span(text: str) -> int:
    """`31d`, `12h`, `2w`, `90m`, `30s` → seconds."""
    found = SPAN.match(text)
    if not found:
        raise ClockRefused(f"{text!r}: say how far, like 31d, 12h, 2w")
    return int(found.group(1)) * UNITS[found.group(2)]


def parse_moment(text: str) -> int:
    """`2027-01-15`, `2027-01-15T10:00`, `2027-01-15T10:00Z` (UTC) or Unix seconds."""
    raw = text.strip()
    if raw.isdigit():
        return int(raw)
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ClockRefused(f"{text!r}: a date (2027-01-15), a time (2027-01-15T10:00Z) or Unix seconds") from None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def when(unix: int | None) -> str:
    if unix is None:
        return "-"
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass
class Travel:
    """What one move of a clock did."""

    user_id: str
    clock_id: str
    before: int
    after: int
    events: list[str] = field(default_factory=list)  # event types, in order of creation
    invoices: list[str] = field(default_factory=list)
    subscriptions: list[str] = field(default_factory=list)
    mails: list[str] = field(default_factory=list)
    untold: list[str] = field(default_factory=list)  # facts that made no mail, and why
    waiting: list[str] = field(default_factory=list)  # facts due later (a reminder)
    steps: int = 0  # billing moments the clock stopped at

    def lines(self) -> list[str]:
        span = self.after - self.before
        out = [
            f"Test clock {self.clock_id} of user {self.user_id}: {when(self.before)} → {when(self.after)} "
            f"(+{span // 86400}d {span % 86400 // 3600}h) in {self.steps} step{'s' if self.steps != 1 else ''}; "
            "Stripe's clock is ready, the worker has caught up.",
        ]
        counts = Counter(self.events)
        out.append(
            f"Events: {len(self.events)}"
            + (f" ({', '.join(f'{t} ×{n}' for t, n in counts.items())})" if counts else "")
        )
        for title, items in (
            ("Invoices", self.invoices),
            ("Subscriptions", self.subscriptions),
            ("Mails", self.mails),
            ("Facts without a mail", self.untold),
            ("Due later", self.waiting),
        ):
            out.append(f"{title}:" + ("" if items else " none"))
            out.extend(f"  {item}" for item in items)
        return out


def advance(
    settings: Settings,
    sessions: sessionmaker[Session],
    gateway: StripeGateway,
    *,
    user_id: str,
    to: int | None = None,
    by: int | None = None,
    timeout: float = 180.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Travel:
    if gateway.livemode or settings.is_live_key:
        raise ClockRefused("time travel is for test mode only: this is a live key")
    with sessions() as session:
        customer = customers.find_by_user(session, user_id)
        if customer is None:
            raise ClockRefused(f"user {user_id} has no customer yet: subscribe or buy first")
        if not customer.test_clock_id:
            raise ClockRefused(
                f"user {user_id}'s customer is on no test clock (created before PAYWIRE_TEST_CLOCKS=true)"
            )
        clock_id, customer_id = customer.test_clock_id, customer.stripe_customer_id
        invoices_before = _invoices(session, customer_id)
        subscriptions_before = _subscriptions(session, user_id)
        fact_mark = session.scalar(select(func.max(OutboxFact.id))) or 0
    deadline = time.monotonic() + timeout
    clock = _ready(gateway, clock_id, deadline, sleep)
    before = int(clock["frozen_time"])
    target = to if to is not None else before + (by or 0)
    if target <= before:
        raise ClockRefused(f"a test clock only moves forward: it is at {when(before)}")
    travel = Travel(user_id, clock_id, before, target)
    now = before
    seen: set[str] = set()
    while now < target and travel.steps < MAX_STEPS:
        # One billing moment at a time, as real time would pass: the worker sees each attempt.
        stop = min(target, _next_moment(gateway, customer_id, now) or target)
        gateway.advance_test_clock(clock_id, frozen_time=stop)
        _ready(gateway, clock_id, deadline, sleep)
        # A step's window starts where the last one ended: an event at that second is listed once.
        events = [e for e in _events_of(gateway, customer_id, clock_id, now, stop) if e["id"] not in seen]
        seen.update(e["id"] for e in events)
        travel.events.extend(e["type"] for e in events)
        travel.steps += 1
        _wait(
            "the worker to process this move's events",
            lambda: _processed(sessions, [e["id"] for e in events]),  # noqa: B023 - waited for here
            deadline,
            sleep,
        )
        _wait("the notices to be sent", lambda: _reacted(sessions, user_id, fact_mark), deadline, sleep)
        now = stop
    if now < target:
        gateway.advance_test_clock(clock_id, frozen_time=target)
        _ready(gateway, clock_id, deadline, sleep)
    with sessions() as session:
        _describe_invoices(travel, invoices_before, _invoices(session, customer_id))
        for sub_id, (status, plan) in _subscriptions(session, user_id).items():
            was = subscriptions_before.get(sub_id, (None, None))[0]
            if was != status:
                travel.subscriptions.append(f"{sub_id} {plan or ''}: {was or 'new'} → {status}")
        _describe_facts(travel, session, user_id, fact_mark)
    return travel


def _ready(gateway: StripeGateway, clock_id: str, deadline: float, sleep: Callable[[float], None]) -> dict[str, Any]:
    while True:
        clock = gateway.retrieve(Kind.TEST_CLOCK, clock_id)
        if clock.get("status") == "ready":
            return clock
        if clock.get("status") == "internal_failure":
            raise ClockRefused(f"Stripe's test clock {clock_id} failed (internal_failure)")
        if time.monotonic() > deadline:
            raise ClockRefused(f"Stripe's test clock {clock_id} is still {clock.get('status')}")
        sleep(POLL_SECONDS)


def _wait(what: str, done: Callable[[], bool], deadline: float, sleep: Callable[[float], None]) -> None:
    while not done():
        if time.monotonic() > deadline:
            raise ClockRefused(f"timed out waiting for {what} (is the worker running and the webhook endpoint set?)")
        sleep(POLL_SECONDS)


def _next_moment(gateway: StripeGateway, customer_id: str, now: int) -> int | None:
    """The next time after `now` when Stripe does something for this customer (plus a minute)."""
    moments: list[Any] = []
    for sub in gateway.list_subscriptions_of_customer(customer_id):
        if sub.get("status") in ("canceled", "incomplete_expired"):
            continue
        items = (sub.get("items") or {}).get("data") or []
        moments += [i.get("current_period_end") for i in items]
        moments += [sub.get("trial_end"), sub.get("cancel_at")]
        if sub.get("status") == "incomplete":
            moments.append(int(sub.get("created") or 0) + 23 * 3600)
        for invoice in gateway.list_invoices_of_subscription(str(sub["id"])):
            if invoice.get("status") == "draft":
                moments.append(invoice.get("automatically_finalizes_at"))
            elif invoice.get("status") == "open":
                moments.append(invoice.get("next_payment_attempt"))
    later = [m for m in moments if isinstance(m, int) and m >= now]
    return min(later) + STEP_AFTER_SECONDS if later else None


def _events_of(gateway: StripeGateway, customer_id: str, clock_id: str, start: int, end: int) -> list[dict[str, Any]]:
    """The events Stripe made for this customer (or its clock) in the clock's time span, oldest first."""
    found: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page, more = gateway.list_events_page(created_gte=start, created_lt=end + 1, starting_after=after)
        for event in page:
            obj = (event.get("data") or {}).get("object") or {}
            if obj.get("id") in (customer_id, clock_id) or id_of(obj.get("customer")) == customer_id:
                found.append(event)
        if not more or not page:
            break
        after = page[-1]["id"]
    return list(reversed(found))


def _processed(sessions: sessionmaker[Session], event_ids: list[str]) -> bool:
    if not event_ids:
        return True
    with sessions() as session:
        done = session.scalar(
            select(func.count()).where(WebhookEvent.id.in_(event_ids), WebhookEvent.state.in_(FINAL_STATES))
        )
    return int(done or 0) == len(set(event_ids))


def _reacted(sessions: sessionmaker[Session], user_id: str, mark: int) -> bool:
    with sessions() as session:
        due = session.scalar(
            select(func.count()).where(
                OutboxFact.id > mark,
                OutboxFact.user_id == user_id,
                OutboxFact.state == "pending",
                OutboxFact.next_attempt_at <= utcnow(),
            )
        )
    return not due


def _invoices(session: Session, customer_id: str) -> dict[str, Invoice]:
    rows = session.scalars(select(Invoice).where(Invoice.stripe_customer_id == customer_id)).all()
    for row in rows:
        session.expunge(row)
    return {row.id: row for row in rows}


def _subscriptions(session: Session, user_id: str) -> dict[str, tuple[str, str | None]]:
    rows = session.execute(
        select(Subscription.id, Subscription.status, Subscription.plan).where(Subscription.user_id == user_id)
    )
    return {row[0]: (row[1], row[2]) for row in rows}


def _describe_invoices(travel: Travel, before: dict[str, Invoice], after: dict[str, Invoice]) -> None:
    for invoice_id, row in sorted(after.items(), key=lambda item: item[1].stripe_created):
        was = before.get(invoice_id)
        if was is not None and (was.status, was.attempt_count) == (row.status, row.attempt_count):
            continue
        amount = f"{row.amount_due / 100:.2f} {(row.currency or '').upper()}"
        state = row.status or "?"
        if row.status == "open" and row.attempt_count:
            state += f", attempt {row.attempt_count} failed, next try {when(row.next_payment_attempt)}"
        elif row.status == "paid" and row.attempt_count > 1:
            state += f" on attempt {row.attempt_count}"
        travel.invoices.append(
            f"{invoice_id} {amount} {row.billing_reason or ''}: {'new, ' if was is None else ''}{state}"
        )


def _describe_facts(travel: Travel, session: Session, user_id: str, mark: int) -> None:
    facts = session.scalars(
        select(OutboxFact).where(OutboxFact.id > mark, OutboxFact.user_id == user_id).order_by(OutboxFact.id)
    ).all()
    for fact in facts:
        detail = session.scalar(
            select(ReactionRecord.detail).where(ReactionRecord.outbox_id == fact.id, ReactionRecord.reaction == "email")
        )
        if fact.state == "pending":
            travel.waiting.append(f"{fact.dedup_key} (due {fact.next_attempt_at:%Y-%m-%d %H:%M} UTC, real time)")
        elif detail and detail.startswith("sent "):
            travel.mails.append(detail.removeprefix("sent ").rsplit(" <", 1)[0])
        else:
            travel.untold.append(f"{fact.dedup_key}: {detail or fact.state}")
