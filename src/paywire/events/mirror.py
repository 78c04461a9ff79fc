"""Writing Stripe's current state into the mirror, shared by the handlers.

Version rule (`subscriptions.stripe_version`): the time, in microseconds since the epoch,
at which the re-read from Stripe *started*. A snapshot is written only if its version is
at least the stored one, under a write lock on the row. Why this converges: every change
in Stripe emits an event after it happens, and the event's re-read starts after it, so the
read that starts last sees the last change and carries the largest version. A slow read
that started earlier but commits later (another worker, a retry) is dropped instead of
overwriting newer state. Event `created` cannot serve: it has one-second ties, and under a
test clock it is the clock's time, not an order. Invoices follow the same rule
(`invoices.stripe_version`), and so do subscription schedules (`paywire.billing.sync`).

No needless re-read (`read_covers`): when the mirror already holds a read that started
after every event of a group was *received*, the group is done without asking Stripe
again. Why that is safe: Stripe sends an event only after the change it reports, and we
store it after that (`received_at`, our clock), so a read that started later saw that
change or a newer state, and the version rule guarantees the mirror holds that read or a
newer one. A newer change has its own event, which is processed on its own. The only
assumption is that the clocks of paywire's hosts agree within `PAYWIRE_WORKER_CLOCK_SKEW`
(the margin added to `received_at`); the version rule already relies on the same clocks.

Facts: every write of a subscription or an invoice reads the business facts of the state
kept (`paywire.reactions.facts`) into the outbox, in the same transaction, so a fact
exists exactly when the mirror change that shows it committed, whoever wrote it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from paywire.catalog import Catalog
from paywire.config import Settings
from paywire.db.models import Customer
from paywire.db.repositories import customers, invoices, subscriptions, test_clocks
from paywire.events import outbox
from paywire.events.reads import BatchReads
from paywire.events.reads import read_version as read_version
from paywire.metrics import OUTBOX_FACTS, WEBHOOK_REREADS_SKIPPED
from paywire.reactions import facts
from paywire.stripe import StripeGateway, StripeNotFound

SUBSCRIPTION_EXPAND = ("items.data.price",)


@dataclass
class HandlerContext:
    """What a handler may use: the transaction it writes in (committed by the worker with
    the events' states), the gateway to re-read from Stripe, the catalog, the settings;
    and what the worker knows of the events being handled (all about one object): their
    types (hints for facts), the first one's id (recorded with the facts) and when the
    last of them was received (for `read_covers`). Outside the worker these stay empty."""

    session: Session
    gateway: StripeGateway
    catalog: Catalog
    settings: Settings
    event_types: frozenset[str] = field(default_factory=frozenset)
    event_id: str | None = None
    received_at: datetime | None = None
    # In the worker: the batch's Stripe reads (made in parallel before its transaction) and
    # the fact keys it knows are in the outbox already (`paywire.events.reads`).
    reads: BatchReads | None = None
    known_facts: outbox.KnownFacts | None = None


def versioned_read(
    ctx: HandlerContext, method: str, object_id: str, expand: Sequence[str] = ()
) -> tuple[int, dict[str, Any]]:
    """(version, object): a fresh read of one object from Stripe, with the time it started.
    In the worker, the batch's read of it (made after the events were claimed, see
    `paywire.events.reads`); elsewhere, a read made now."""
    if ctx.reads is not None:
        return ctx.reads.get(method, object_id, expand)
    version = read_version()
    call = getattr(ctx.gateway, method)
    return version, (call(object_id, expand=tuple(expand)) if expand else call(object_id))


def _stored_version(ctx: HandlerContext, table: str, object_id: str) -> int | None:
    if ctx.reads is not None and (table, object_id) in ctx.reads.stored:
        # Read before the batch's re-reads. Versions only grow, so an older figure can
        # only make `read_covers` say no (and the object be read), never wrongly yes.
        return ctx.reads.stored[(table, object_id)]
    repository = subscriptions if table == "subscriptions" else invoices
    return repository.stored_version(ctx.session, object_id)


def stripe_id(value: Any) -> str | None:
    """An expandable field: a bare id or the expanded object."""
    if isinstance(value, dict):
        found = value.get("id")
        return found if isinstance(found, str) else None
    return value if isinstance(value, str) else None


def user_for(session: Session, stripe_customer_id: str | None, stripe_object: dict[str, Any]) -> str | None:
    """The product's user behind a Stripe object: the customers table first (one customer
    per user), then the `metadata.user_id` paywire puts on everything it creates."""
    if stripe_customer_id:
        user_id = session.scalar(select(Customer.user_id).where(Customer.stripe_customer_id == stripe_customer_id))
        if user_id is not None:
            return user_id
    metadata = stripe_object.get("metadata") or {}
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    return user_id if isinstance(user_id, str) and user_id else None


def plan_of(catalog: Catalog, stripe_subscription: dict[str, Any]) -> tuple[str | None, str | None]:
    """(plan, interval) of a subscription from its price, through the catalog: by lookup
    key first; a price that lost its lookup key to a newer price (a changed amount keeps
    old subscribers on the old price) is still known by its product and interval."""
    for item in (stripe_subscription.get("items") or {}).get("data") or []:
        price = item.get("price") or {}
        found = catalog.plan_for_lookup_key(price.get("lookup_key"))
        if found is not None:
            return found
        interval = (price.get("recurring") or {}).get("interval")
        metadata = price.get("metadata") or {}
        plan = metadata.get("paywire_plan") or catalog.plan_for_product_id(stripe_id(price.get("product")))
        if plan and catalog.plan(plan) is not None:
            return plan, interval
    return None, None


def read_covers(ctx: HandlerContext, stored_version: int | None) -> bool:
    """Whether a stored read started after the handled events were received (plus the
    clock margin), so re-reading cannot show anything they announce (module docstring)."""
    return covers(ctx.settings, ctx.received_at, stored_version)


def covers(settings: Settings, received_at: datetime | None, stored_version: int | None) -> bool:
    """`read_covers` for events received at `received_at` (the last of them)."""
    if received_at is None or stored_version is None:
        return False
    margin = float(getattr(settings, "worker_clock_skew", 0.5))
    return stored_version >= int((received_at.timestamp() + margin) * 1_000_000)


def record_facts(ctx: HandlerContext, found: Iterable[facts.Fact]) -> list[str]:
    """Put facts in the outbox, in the handler's transaction (one row per fact key)."""
    added = outbox.record(ctx.session, found, source_event_id=ctx.event_id, known=ctx.known_facts)
    for key in added:
        OUTBOX_FACTS.labels(kind=key.split(":", 1)[0]).inc()
    return added


def refresh_subscription(ctx: HandlerContext, subscription_id: str) -> str:
    """Re-read a subscription from Stripe and write it, unless a newer read is already
    stored. Returns a short note for the event's log line."""
    if ctx.received_at is not None and read_covers(ctx, _stored_version(ctx, "subscriptions", subscription_id)):
        row = subscriptions.find(ctx.session, subscription_id)
        if row is not None:
            WEBHOOK_REREADS_SKIPPED.inc()
            _subscription_facts(ctx, row.stripe_object, user_id=row.user_id, plan=row.plan, interval=row.interval)
            return f"{subscription_id} {row.status}: already read after these events, not re-read"
    try:
        version, fresh = versioned_read(ctx, "retrieve_subscription", subscription_id, SUBSCRIPTION_EXPAND)
    except StripeNotFound:
        # Canceled subscriptions stay retrievable; a 404 means another mode or account, and
        # asking again will not change that.
        return f"{subscription_id} not found in Stripe: nothing to mirror"
    return save_subscription(ctx, fresh, version)


def save_subscription(ctx: HandlerContext, fresh: dict[str, Any], version: int) -> str:
    """Write a subscription read at `version` (the version rule decides, in the write
    itself: one statement that inserts, or overwrites an older read, or leaves a newer one),
    with its facts."""
    session = ctx.session
    customer_id = stripe_id(fresh.get("customer"))
    user_id = user_for(session, customer_id, fresh)
    plan, interval = plan_of(ctx.catalog, fresh)
    written = subscriptions.save_versioned(
        session, fresh, user_id=user_id, plan=plan, interval=interval, stripe_version=version
    )
    if not written:
        row = subscriptions.find(session, fresh["id"])
        if row is not None and ctx.event_types:
            # The newer state stands, and the events' hints are checked against it.
            _subscription_facts(ctx, row.stripe_object, user_id=row.user_id, plan=row.plan, interval=row.interval)
        return f"{fresh['id']} kept: a newer read is stored"
    if user_id and fresh.get("trial_start"):
        customers.mark_trial_used(session, user_id)
    _subscription_facts(ctx, fresh, user_id=user_id, plan=plan, interval=interval)
    return f"{fresh['id']} {fresh.get('status')} plan={plan}/{interval}"


def _subscription_facts(
    ctx: HandlerContext, subscription: dict[str, Any], *, user_id: str | None, plan: str | None, interval: str | None
) -> None:
    record_facts(
        ctx,
        facts.subscription_facts(
            subscription, user_id=user_id, plan=plan, interval=interval, event_types=ctx.event_types
        ),
    )


def refresh_invoice(ctx: HandlerContext, invoice_id: str) -> str:
    """Re-read an invoice and write it under the version rule (as subscriptions)."""
    if ctx.received_at is not None and read_covers(ctx, _stored_version(ctx, "invoices", invoice_id)):
        row = invoices.find(ctx.session, invoice_id)
        if row is not None:
            WEBHOOK_REREADS_SKIPPED.inc()
            _invoice_facts(ctx, row.stripe_object)
            return f"{invoice_id} {row.status}: already read after these events, not re-read"
    try:
        version, fresh = versioned_read(ctx, "retrieve_invoice", invoice_id)
    except StripeNotFound:
        # A deleted draft is gone from Stripe; nothing was ever owed on it.
        return f"{invoice_id} no longer in Stripe"
    return save_invoice(ctx, fresh, version)


def save_invoice(ctx: HandlerContext, fresh: dict[str, Any], version: int) -> str:
    """Write an invoice read at `version` (the version rule decides, in the write itself, as
    for subscriptions), with its facts."""
    if not invoices.save_versioned(ctx.session, fresh, stripe_version=version):
        row = invoices.find(ctx.session, fresh["id"])
        if row is not None and ctx.event_types:
            _invoice_facts(ctx, row.stripe_object)
        return f"{fresh['id']} kept: a newer read is stored"
    _invoice_facts(ctx, fresh)
    return f"{fresh['id']} {fresh.get('status')}"


def _invoice_facts(ctx: HandlerContext, invoice: dict[str, Any]) -> None:
    if not ctx.event_types:
        return  # invoice facts are all hinted by events
    user_id = user_for(ctx.session, stripe_id(invoice.get("customer")), invoice)
    record_facts(ctx, facts.invoice_facts(invoice, user_id=user_id, event_types=ctx.event_types))


def customer_time(ctx: HandlerContext, stripe_customer_id: str | None) -> int:
    """Now, in the customer's time: their test clock's frozen time (read fresh from Stripe
    and mirrored) in test mode, real time otherwise."""
    if stripe_customer_id is None or ctx.gateway.livemode:
        return int(time.time())
    row = customers.find_by_stripe_id(ctx.session, stripe_customer_id)
    try:
        if row is not None:
            clock_id = row.test_clock_id
        else:
            clock_id = stripe_id(ctx.gateway.retrieve_customer(stripe_customer_id).get("test_clock"))
        if not clock_id:
            return int(time.time())
        clock = ctx.gateway.retrieve_test_clock(clock_id)
    except StripeNotFound:
        # A deleted clock (or customer) has no time of its own any more.
        return int(time.time())
    test_clocks.save_clock(ctx.session, clock["id"], frozen_time=int(clock["frozen_time"]), status=clock["status"])
    return int(clock["frozen_time"])
