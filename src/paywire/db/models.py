"""The tables. Their names and columns are a contract with the events pipeline.

Times come in two kinds, kept apart on purpose:
- Stripe's times (periods, trial ends, `created`, test clock `frozen_time`, a pass's access
  window) are unix seconds in `BigInteger` columns, exactly as Stripe sends them, because
  they are compared with each other and with a customer's (possibly test-clock) time.
- paywire's own bookkeeping times (`created_at`, `synced_at`, `received_at`, `claimed_until`,
  …) are timezone-aware UTC datetimes (`UTCDateTime`), on SQLite as on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Sequence,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

INBOX_STATES = (
    "pending",
    "processing",
    "processed",
    "failed",
    "dead",
    "ignored",
    "livemode_mismatch",
)
ORDER_STATES = ("pending", "paid", "fulfilled", "refunded", "failed")
OUTBOX_STATES = ("pending", "done", "dead")
DUNNING_OUTCOMES = ("open", "recovered", "lost")
# A usage event's way to Stripe: pending (waiting for the sender), sent (Stripe has it),
# cancel_pending (cancelled here, Stripe's copy still to be cancelled), canceled, failed
# (Stripe refused it: not billed).
USAGE_STATES = ("pending", "sent", "cancel_pending", "canceled", "failed")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("paywire stores timezone-aware datetimes only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Stripe ids are short, but leave room: Stripe documents no maximum.
StripeId = String(255)
StripeTime = BigInteger


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Customer(Base):
    """A user of the product and their one Stripe customer (unique both ways)."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(255), unique=True)
    stripe_customer_id: Mapped[str] = mapped_column(StripeId, unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    # Indexed: a clock's move is a new "now" for every customer on it (entitlement_versions).
    test_clock_id: Mapped[str | None] = mapped_column(StripeId, index=True)
    trial_used: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    trial_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Subscription(Base):
    """The mirror of one Stripe subscription; `stripe_object` is the full object as last seen."""

    __tablename__ = "subscriptions"

    id: Mapped[str] = mapped_column(StripeId, primary_key=True)
    stripe_customer_id: Mapped[str] = mapped_column(StripeId, index=True)
    user_id: Mapped[str | None] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(32))
    plan: Mapped[str | None] = mapped_column(String(64))
    interval: Mapped[str | None] = mapped_column(String(16))
    quantity: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    current_period_start: Mapped[int | None] = mapped_column(StripeTime)
    current_period_end: Mapped[int | None] = mapped_column(StripeTime)
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    cancel_at: Mapped[int | None] = mapped_column(StripeTime)
    canceled_at: Mapped[int | None] = mapped_column(StripeTime)
    ended_at: Mapped[int | None] = mapped_column(StripeTime)
    trial_start: Mapped[int | None] = mapped_column(StripeTime)
    trial_end: Mapped[int | None] = mapped_column(StripeTime)
    pause_collection: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    latest_invoice_id: Mapped[str | None] = mapped_column(StripeId)
    schedule_id: Mapped[str | None] = mapped_column(StripeId)
    stripe_object: Mapped[dict[str, Any]] = mapped_column(JSON)
    stripe_created: Mapped[int] = mapped_column(StripeTime)
    # The version rule (paywire.mirror): when the read that wrote the row started (µs), or,
    # for a state taken from an event's payload, when it was written.
    stripe_version: Mapped[int | None] = mapped_column(BigInteger)
    # Where the state stands in the object's own time (a test clock's, or Stripe's): every change
    # made before `stripe_time_from` is in it, none made after `stripe_time_to` (unix seconds;
    # null: not known). `stripe_event_id`: the event whose payload it is (null: a read).
    stripe_time_from: Mapped[int | None] = mapped_column(StripeTime)
    stripe_time_to: Mapped[int | None] = mapped_column(StripeTime)
    stripe_event_id: Mapped[str | None] = mapped_column(StripeId)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    items: Mapped[list[SubscriptionItem]] = relationship(
        back_populates="subscription",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="SubscriptionItem.id",
    )


class SubscriptionItem(Base):
    __tablename__ = "subscription_items"

    id: Mapped[str] = mapped_column(StripeId, primary_key=True)
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"),
        index=True,
    )
    price_id: Mapped[str] = mapped_column(StripeId)
    lookup_key: Mapped[str | None] = mapped_column(String(200))
    product_id: Mapped[str | None] = mapped_column(StripeId)
    quantity: Mapped[int | None] = mapped_column(Integer)
    current_period_start: Mapped[int | None] = mapped_column(StripeTime)
    current_period_end: Mapped[int | None] = mapped_column(StripeTime)

    subscription: Mapped[Subscription] = relationship(back_populates="items")


class SubscriptionSchedule(Base):
    """The mirror of one Stripe subscription schedule: where a change waiting for the period
    end (a downgrade) lives. `subscription_id` stays set after a release, for history."""

    __tablename__ = "subscription_schedules"

    id: Mapped[str] = mapped_column(StripeId, primary_key=True)
    subscription_id: Mapped[str | None] = mapped_column(StripeId, index=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(StripeId)
    status: Mapped[str] = mapped_column(String(32))
    end_behavior: Mapped[str | None] = mapped_column(String(32))
    current_phase: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    phases: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    stripe_object: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Same rule as `subscriptions.stripe_version`: when the read from Stripe started (µs).
    stripe_version: Mapped[int | None] = mapped_column(BigInteger)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SubscriptionOperation(Base):
    """A ledger of what paywire asked Stripe to do to a subscription, one row per write.

    `seq` numbers a subscription's operations: it is part of each operation's idempotency
    key, so two racing copies of one request (same `seq`) are one operation in Stripe, while
    the same request made again later (cancel, reactivate, cancel) is a new one."""

    __tablename__ = "subscription_operations"
    __table_args__ = (UniqueConstraint("subscription_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(StripeId)
    seq: Mapped[int] = mapped_column(Integer)
    operation: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Invoice(Base):
    __tablename__ = "invoices"

    id: Mapped[str] = mapped_column(StripeId, primary_key=True)
    stripe_customer_id: Mapped[str] = mapped_column(StripeId, index=True)
    subscription_id: Mapped[str | None] = mapped_column(StripeId, index=True)
    status: Mapped[str | None] = mapped_column(String(32))
    billing_reason: Mapped[str | None] = mapped_column(String(64))
    amount_due: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    amount_paid: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    amount_remaining: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    currency: Mapped[str | None] = mapped_column(String(8))
    attempt_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_payment_attempt: Mapped[int | None] = mapped_column(StripeTime)
    hosted_invoice_url: Mapped[str | None] = mapped_column(Text)
    period_start: Mapped[int | None] = mapped_column(StripeTime)
    period_end: Mapped[int | None] = mapped_column(StripeTime)
    stripe_created: Mapped[int] = mapped_column(StripeTime)
    stripe_object: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Same rules as `subscriptions.stripe_version` and `stripe_time_from/to`, `stripe_event_id`.
    stripe_version: Mapped[int | None] = mapped_column(BigInteger)
    stripe_time_from: Mapped[int | None] = mapped_column(StripeTime)
    stripe_time_to: Mapped[int | None] = mapped_column(StripeTime)
    stripe_event_id: Mapped[str | None] = mapped_column(StripeId)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Order(Base):
    """A one-time purchase (Checkout in payment mode) and its fulfilment."""

    __tablename__ = "orders"
    __table_args__ = (CheckConstraint(f"status IN {ORDER_STATES!r}", name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    stripe_customer_id: Mapped[str] = mapped_column(StripeId, index=True)
    checkout_session_id: Mapped[str] = mapped_column(StripeId, unique=True)
    payment_intent_id: Mapped[str | None] = mapped_column(StripeId)
    product: Mapped[str] = mapped_column(String(64))
    amount_total: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    grants_plan: Mapped[str | None] = mapped_column(String(64))
    # In the customer's time (the test clock's in test mode), like every Stripe time. A pass
    # bought while another still runs starts where that one ends.
    access_starts_at: Mapped[int | None] = mapped_column(StripeTime)
    access_ends_at: Mapped[int | None] = mapped_column(StripeTime)
    paid_at: Mapped[int | None] = mapped_column(StripeTime)
    # The paid invoice Checkout made for it (`invoice_creation`) and the payment's receipt.
    invoice_id: Mapped[str | None] = mapped_column(StripeId)
    receipt_url: Mapped[str | None] = mapped_column(Text)
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TestClock(Base):
    """A Stripe test clock as last seen: its `frozen_time` is its customers' "now"."""

    __tablename__ = "test_clocks"
    __test__ = False  # not a pytest test class, despite the name

    id: Mapped[str] = mapped_column(StripeId, primary_key=True)
    frozen_time: Mapped[int] = mapped_column(StripeTime)
    status: Mapped[str] = mapped_column(String(32))
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# PostgreSQL numbers entitlement versions from this sequence (SQLite, one writer at a time,
# takes the largest version + 1).
ENTITLEMENT_VERSIONS_SEQUENCE = Sequence("entitlement_versions_seq", metadata=Base.metadata)


class EntitlementVersion(Base):
    """A user's entitlement version: moved forward, in the same transaction, by every write
    that can change what the user may do (`paywire.db.repositories.entitlement_versions`), so
    a cached entitlement older than it is known to be stale (`paywire.billing.entitlement_cache`).
    Per user, versions grow in commit order."""

    __tablename__ = "entitlement_versions"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, index=True)


class WebhookEvent(Base):
    """The inbox: every verified event, stored once by id, then worked off by the worker."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        CheckConstraint(f"state IN {INBOX_STATES!r}", name="state"),
        Index("ix_webhook_events_state_next_attempt_at", "state", "next_attempt_at"),
        Index("ix_webhook_events_object_id", "object_id"),
    )

    id: Mapped[str] = mapped_column(StripeId, primary_key=True)
    type: Mapped[str] = mapped_column(String(128))
    livemode: Mapped[bool] = mapped_column(Boolean)
    api_version: Mapped[str | None] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(StripeId)
    object_type: Mapped[str | None] = mapped_column(String(64))
    # The event's `created`: one-second resolution and ties, so not an order by itself.
    event_created: Mapped[int | None] = mapped_column(StripeTime)
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(24), default="pending", server_default="pending")
    claimed_by: Mapped[str | None] = mapped_column(String(255))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Cursor(Base):
    """Where a long-running scan of Stripe stands, kept across runs and processes.

    `events.recovery`: `stripe_time` is the `created` from which the next scan of
    `/v1/events` starts; `scanned_at` when a scan last completed (the schedule).
    `sync.<resource>`: `run_id` and `last_id` (the last object done, Stripe's list cursor) of
    a `paywire sync` that may be resumed; `scanned_at` set once the resource is finished.
    `held_by`/`held_until`: a lease, so only one process scans at a time."""

    __tablename__ = "cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    stripe_time: Mapped[int | None] = mapped_column(StripeTime)
    last_id: Mapped[str | None] = mapped_column(StripeId)
    run_id: Mapped[str | None] = mapped_column(String(64))
    scanned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    held_by: Mapped[str | None] = mapped_column(String(255))
    held_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class StripeBudget(Base):
    """The request budget's shared state on PostgreSQL, one row per mode (`paywire.stripe.
    budget_store` reads and writes it; on SQLite the same row lives in a file beside the
    database). UNLOGGED on PostgreSQL: a budget lost in a crash starts full."""

    __tablename__ = "stripe_budget"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    next_slot: Mapped[float] = mapped_column(Float)
    shrunk_rate: Mapped[float | None] = mapped_column(Float)
    held_until: Mapped[float] = mapped_column(Float)


class SyncSeen(Base):
    """Objects an unfinished `paywire sync` run has already listed, per resource: after a
    resume, whatever the mirror holds beyond these and the rest of the list is not in Stripe."""

    __tablename__ = "sync_seen"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource: Mapped[str] = mapped_column(String(32), primary_key=True)
    object_id: Mapped[str] = mapped_column(StripeId, primary_key=True)


class OutboxFact(Base):
    """A business fact (access granted, payment failed, pass fulfilled …) to react to.

    Written in the same transaction as the mirror change it follows from, so a fact exists
    exactly when its change was committed. `dedup_key` is derived from the fact itself
    (e.g. `payment_failed:in_123:2`), never from an event id: two events describing one
    change, or one event delivered twice, make one row."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(f"state IN {OUTBOX_STATES!r}", name="state"),
        Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dedup_key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(255))
    subject_id: Mapped[str | None] = mapped_column(StripeId)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    source_event_id: Mapped[str | None] = mapped_column(StripeId)
    state: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(255))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReactionRecord(Base):
    """One reaction done for one fact: the ledger that makes reactions idempotent (a retried
    delivery skips what is recorded here)."""

    __tablename__ = "reaction_log"
    __table_args__ = (UniqueConstraint("outbox_id", "reaction"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"))
    reaction: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RevenueChange(Base):
    """The revenue ledger (`paywire.revenue`): every change of a subscription's monthly value.

    Appended by the mirror when it writes a subscription whose value differs from its last row
    here, in the same transaction; `seq` numbers a subscription's changes, so a second writer
    of the same state finds the value unchanged and a racing one hits the unique key.
    Amounts in the currency's smallest unit; `occurred_at` in Stripe's (the customer's) time."""

    __tablename__ = "revenue_changes"
    __table_args__ = (
        UniqueConstraint("subscription_id", "seq"),
        Index("ix_revenue_changes_occurred_at", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(StripeId)
    seq: Mapped[int] = mapped_column(Integer)
    stripe_customer_id: Mapped[str] = mapped_column(StripeId, index=True)
    user_id: Mapped[str | None] = mapped_column(String(255))
    occurred_at: Mapped[int] = mapped_column(StripeTime)
    mrr_before: Mapped[int] = mapped_column(BigInteger)
    mrr_after: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(8))
    # Why the value changed (started, trial_converted, plan_changed, renewal_change, discount,
    # canceled, payment_failed, unpaid, paused, resumed) and, when it fell to 0, how access ended.
    cause: Mapped[str] = mapped_column(String(32))
    churn: Mapped[str | None] = mapped_column(String(16))
    plan: Mapped[str | None] = mapped_column(String(64))
    interval: Mapped[str | None] = mapped_column(String(16))
    quantity: Mapped[int | None] = mapped_column(Integer)
    # `mirror`: a change the mirror saw happen; `history`: rebuilt from Stripe's subscription
    # and invoices (a subscription seen for the first time, or `paywire sync`'s backfill).
    source: Mapped[str] = mapped_column(String(16))
    source_event_id: Mapped[str | None] = mapped_column(StripeId)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DunningCase(Base):
    """One invoice whose payment failed, from its first failed attempt to its end: paid after
    attempt n (by a scheduled retry, or by the customer: a new card, the invoice page), or
    lost (no try left, voided, written off). Written by the mirror (`paywire.mirror.dunning`);
    the notices sent for it are its facts in the outbox (`subject_id` = the invoice)."""

    __tablename__ = "dunning_cases"
    __table_args__ = (CheckConstraint(f"outcome IN {DUNNING_OUTCOMES!r}", name="outcome"),)

    invoice_id: Mapped[str] = mapped_column(StripeId, primary_key=True)
    user_id: Mapped[str | None] = mapped_column(String(255), index=True)
    subscription_id: Mapped[str | None] = mapped_column(StripeId)
    stripe_customer_id: Mapped[str] = mapped_column(StripeId)
    amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    currency: Mapped[str | None] = mapped_column(String(8))
    # The highest failed attempt seen, and Stripe's next try after it (Stripe's time).
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[int | None] = mapped_column(StripeTime)
    outcome: Mapped[str] = mapped_column(String(16), default="open", server_default="open", index=True)
    recovered_after_attempt: Mapped[int | None] = mapped_column(Integer)
    recovered_by: Mapped[str | None] = mapped_column(String(16))  # retry | card_update
    first_failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UsageRecord(Base):
    """One usage event recorded by the product (`paywire.usage`), kept until and after Stripe
    has it: the durable table the sender works off. `identifier` is the event's identity at
    Stripe too (the caller's, or derived from the call): unique here forever, so a retried
    call is one event, and the same on every resend, so Stripe counts it once.
    `timestamp` is the customer's time (a test clock's in test mode), `recorded_at` paywire's."""

    __tablename__ = "usage_events"
    __table_args__ = (
        CheckConstraint(f"state IN {USAGE_STATES!r}", name="state"),
        Index("ix_usage_events_state_next_attempt_at", "state", "next_attempt_at"),
        Index("ix_usage_events_user_id_meter_timestamp", "user_id", "meter", "timestamp"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    identifier: Mapped[str] = mapped_column(String(100), unique=True)
    user_id: Mapped[str] = mapped_column(String(255))
    stripe_customer_id: Mapped[str] = mapped_column(StripeId)
    meter: Mapped[str] = mapped_column(String(100))  # the meter's event name
    value: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[int] = mapped_column(StripeTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(255))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_via: Mapped[str | None] = mapped_column(String(8))  # v1 | stream
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class UsageErrorReport(Base):
    """A thin event in which Stripe reported usage it refused after accepting it on the
    stream (`v1.billing.meter.error_report_triggered`, `v1.billing.meter.no_meter_found`):
    kept once by event id, with what it counted and the identifiers it named."""

    __tablename__ = "usage_error_reports"

    id: Mapped[str] = mapped_column(StripeId, primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    meter_id: Mapped[str | None] = mapped_column(StripeId)
    created: Mapped[str] = mapped_column(String(40))  # Stripe's ISO 8601 time
    error_count: Mapped[int] = mapped_column(Integer)
    # {code: count}, and the sample identifiers Stripe named ({identifier: "code: message"}).
    codes: Mapped[dict[str, Any]] = mapped_column(JSON)
    samples: Mapped[dict[str, Any]] = mapped_column(JSON)
    summary: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Seller(Base):
    """A user who sells through the platform, and their connected account (Stripe Connect,
    Accounts v2). The account's state is mirrored here from Stripe (`paywire.mirror.connect`,
    under the version rule, `stripe_version`); `fee_percent`/`fee_fixed` are the platform's terms
    for this seller (None: the catalog's)."""

    __tablename__ = "sellers"

    id: Mapped[str] = mapped_column(StripeId, primary_key=True)  # the connected account, acct_…
    user_id: Mapped[str] = mapped_column(String(255), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    display_name: Mapped[str | None] = mapped_column(String(255))
    livemode: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Capability statuses as Stripe says them (active, pending, restricted, rejected, unsupported):
    # card payments (merchant), transfers into the balance and payouts out of it (recipient).
    card_payments: Mapped[str | None] = mapped_column(String(32))
    transfers: Mapped[str | None] = mapped_column(String(32))
    payouts: Mapped[str | None] = mapped_column(String(32))
    # Why a capability is not active (Stripe's status detail code: requirements_past_due,
    # rejected_other, …), the requirements ([{name, status, reason}] by Stripe's requirement ids;
    # status currently_due / past_due / eventually_due) and the soonest deadline.
    disabled_reason: Mapped[str | None] = mapped_column(String(64))
    requirements: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    deadline_status: Mapped[str | None] = mapped_column(String(32))
    deadline: Mapped[int | None] = mapped_column(StripeTime)
    # The account's balance by currency ({"usd": cents}), as last read (its own version).
    balance_available: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    balance_pending: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    balance_version: Mapped[int | None] = mapped_column(BigInteger)
    fee_percent: Mapped[str | None] = mapped_column(String(16))
    fee_fixed: Mapped[int | None] = mapped_column(BigInteger)
    stripe_version: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ConnectTransfer(Base):
    """Money sent to a seller's account: a destination charge's transfer, or a separate
    transfer of a multi-seller order; with what the buyer paid for it (`gross`) and what the
    platform keeps of it (`platform_fee`: a separate transfer's by transfer math, a destination
    charge's as its `application_fee_amount`, known before its `application_fees` row arrives)."""

    __tablename__ = "connect_transfers"

    id: Mapped[str] = mapped_column(StripeId, primary_key=True)  # tr_…
    account_id: Mapped[str] = mapped_column(StripeId, index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    amount_reversed: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    currency: Mapped[str] = mapped_column(String(8))
    charge_id: Mapped[str | None] = mapped_column(StripeId, index=True)
    payment_intent_id: Mapped[str | None] = mapped_column(StripeId)
    transfer_group: Mapped[str | None] = mapped_column(String(255))
    gross: Mapped[int | None] = mapped_column(BigInteger)
    platform_fee: Mapped[int | None] = mapped_column(BigInteger)
    product: Mapped[str | None] = mapped_column(String(64))
    buyer_user_id: Mapped[str | None] = mapped_column(String(255))
    stripe_created: Mapped[int] = mapped_column(StripeTime)
    stripe_version: Mapped[int | None] = mapped_column(BigInteger)


class ApplicationFee(Base):
    """The platform's fee on a destination charge, collected from the seller's account."""

    __tablename__ = "application_fees"

    id: Mapped[str] = mapped_column(StripeId, primary_key=True)  # fee_…
    account_id: Mapped[str] = mapped_column(StripeId, index=True)
    charge_id: Mapped[str] = mapped_column(StripeId, index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    amount_refunded: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    currency: Mapped[str] = mapped_column(String(8))
    stripe_created: Mapped[int] = mapped_column(StripeTime)
    stripe_version: Mapped[int | None] = mapped_column(BigInteger)


class Payout(Base):
    """A payout from a seller's balance to their bank account."""

    __tablename__ = "payouts"

    id: Mapped[str] = mapped_column(StripeId, primary_key=True)  # po_…
    account_id: Mapped[str] = mapped_column(StripeId, index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(32))
    arrival_date: Mapped[int | None] = mapped_column(StripeTime)
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(Text)
    stripe_created: Mapped[int] = mapped_column(StripeTime)
    stripe_version: Mapped[int | None] = mapped_column(BigInteger)


class Dispute(Base):
    """A dispute: the customer's bank took a payment back (a chargeback), or asks about it (an
    inquiry, `warning_*`). Mirrored from `charge.dispute.*` under the version rule
    (`paywire.mirror.disputes`). `evidence_due_by`: the deadline (null or 0: no response
    possible); `submission_count`: Stripe takes evidence once. On a destination charge the
    platform's balance pays it (the platform is the merchant); the seller is found by the
    charge's transfer. `user_id`, `payment_id` (the payment as `GET /api/billing/payments` lists
    it): whose payment it is, where paywire knows. `closed_at`: when it was won or lost, in
    Stripe's time (the closing event's)."""

    __tablename__ = "disputes"

    id: Mapped[str] = mapped_column(StripeId, primary_key=True)  # dp_… / du_…
    charge_id: Mapped[str] = mapped_column(StripeId, index=True)
    payment_intent_id: Mapped[str | None] = mapped_column(StripeId)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    evidence_due_by: Mapped[int | None] = mapped_column(StripeTime)
    stripe_created: Mapped[int] = mapped_column(StripeTime)
    stripe_version: Mapped[int | None] = mapped_column(BigInteger)
    stripe_customer_id: Mapped[str | None] = mapped_column(StripeId)
    user_id: Mapped[str | None] = mapped_column(String(255), index=True)
    payment_id: Mapped[str | None] = mapped_column(StripeId)
    has_evidence: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    submission_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    past_due: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    is_charge_refundable: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    network_reason_code: Mapped[str | None] = mapped_column(String(16))
    closed_at: Mapped[int | None] = mapped_column(StripeTime)


class MarketplaceOrder(Base):
    """A checkout paying several sellers at once (separate charges and transfers): its lines,
    priced by the server, each paid to its seller by a transfer in `transfer_group` once the
    payment succeeded. `transfers`: {line index: transfer id} made so far."""

    __tablename__ = "marketplace_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    checkout_session_id: Mapped[str] = mapped_column(StripeId, unique=True)
    buyer_user_id: Mapped[str] = mapped_column(String(255), index=True)
    transfer_group: Mapped[str] = mapped_column(String(255))
    currency: Mapped[str] = mapped_column(String(8))
    # [{product, seller_user_id, account_id, amount, platform_fee}]
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    transfers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Refund(Base):
    """A refund of a payment, mirrored from `refund.created|updated|failed` and `charge.refunded`
    under the version rule (`paywire.mirror.refunds`): `pending`, `succeeded`, `failed` (with
    Stripe's `failure_reason`: the money stayed with the merchant), `canceled`. `payment_id`:
    the payment as `GET /api/billing/payments` lists it (`in_…`, `cs_…`), where paywire knows;
    `requested_by`: the admin who asked for it in paywire, `self` for a customer's own, null
    when it was made elsewhere (the Dashboard)."""

    __tablename__ = "refunds"

    id: Mapped[str] = mapped_column(StripeId, primary_key=True)  # re_…
    charge_id: Mapped[str | None] = mapped_column(StripeId, index=True)
    payment_intent_id: Mapped[str | None] = mapped_column(StripeId, index=True)
    payment_id: Mapped[str | None] = mapped_column(StripeId, index=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(StripeId)
    user_id: Mapped[str | None] = mapped_column(String(255), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    failure_reason: Mapped[str | None] = mapped_column(String(64))
    requested_by: Mapped[str | None] = mapped_column(String(255))
    stripe_created: Mapped[int] = mapped_column(StripeTime)
    stripe_version: Mapped[int | None] = mapped_column(BigInteger)


class RefundRequest(Base):
    """A refund asked of paywire (`POST /api/admin/refunds`, a customer's own), kept so that the
    same request made again refunds once: `key` is the caller's Idempotency-Key, or the request
    itself (payment, amount, reason, who) for 24 hours (`expires_at`). `answer`: what the first
    request was answered once it was done (null while it runs)."""

    __tablename__ = "refund_requests"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    payment_id: Mapped[str] = mapped_column(StripeId)
    requested_by: Mapped[str] = mapped_column(String(255))
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DisputeEvidence(Base):
    """The evidence paywire drafted for a dispute from what it knows (`paywire.billing.evidence`),
    as an admin reviewed and edited it: Stripe's evidence fields (`fields`, text), the documents
    made from paywire's records (`documents`: {evidence field: {title, sha256, file_id}}, the
    file uploaded to Stripe with purpose `dispute_evidence` once), what each part came from
    (`notes`), and when it was staged to Stripe (`submit=false`) and submitted (once)."""

    __tablename__ = "dispute_evidence"

    dispute_id: Mapped[str] = mapped_column(StripeId, primary_key=True)
    fields: Mapped[dict[str, str]] = mapped_column(JSON)
    documents: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    notes: Mapped[list[str]] = mapped_column(JSON, default=list)
    built_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    edited_by: Mapped[str | None] = mapped_column(String(255))
    staged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_by: Mapped[str | None] = mapped_column(String(255))


class AccessRecord(Base):
    """A user's access to the product, as evidence that it was used: a sign-in, a use (an
    authenticated request, at most one a user an hour per process), a checkout started (with
    its session id): each with the address and browser it came from."""

    __tablename__ = "access_log"
    __table_args__ = (Index("ix_access_log_user_id_at", "user_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # sign_in | use | checkout
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    detail: Mapped[str | None] = mapped_column(String(255))  # the path used, the checkout session
