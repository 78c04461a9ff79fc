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
    ForeignKey,
    Index,
    Integer,
    MetaData,
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
    test_clock_id: Mapped[str | None] = mapped_column(StripeId)
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
    # Monotonic marker of the Stripe state last applied; the events pipeline owns its meaning.
    stripe_version: Mapped[int | None] = mapped_column(BigInteger)
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
    # Same rule as `subscriptions.stripe_version`: when the read from Stripe started (µs).
    stripe_version: Mapped[int | None] = mapped_column(BigInteger)
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
    # In the customer's time (the test clock's in test mode), like every Stripe time.
    access_starts_at: Mapped[int | None] = mapped_column(StripeTime)
    access_ends_at: Mapped[int | None] = mapped_column(StripeTime)
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
