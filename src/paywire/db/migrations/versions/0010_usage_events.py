"""Usage events: the durable table usage is recorded in and sent to Stripe from, and the
error reports Stripe sends about usage it refused.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

STATES = ("pending", "sent", "cancel_pending", "canceled", "failed")


def upgrade() -> None:
    op.create_table(
        "usage_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("identifier", sa.String(length=100), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=False),
        sa.Column("meter", sa.String(length=100), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=255), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_via", sa.String(length=8), nullable=True),
        sa.Column("canceled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint(f"state IN {STATES!r}", name=op.f("ck_usage_events_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_events")),
        sa.UniqueConstraint("identifier", name=op.f("uq_usage_events_identifier")),
    )
    op.create_index("ix_usage_events_state_next_attempt_at", "usage_events", ["state", "next_attempt_at"], unique=False)
    op.create_index(
        "ix_usage_events_user_id_meter_timestamp", "usage_events", ["user_id", "meter", "timestamp"], unique=False
    )
    op.create_table(
        "usage_error_reports",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("meter_id", sa.String(length=255), nullable=True),
        sa.Column("created", sa.String(length=40), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("codes", sa.JSON(), nullable=False),
        sa.Column("samples", sa.JSON(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_error_reports")),
    )


def downgrade() -> None:
    op.drop_table("usage_error_reports")
    op.drop_index("ix_usage_events_user_id_meter_timestamp", table_name="usage_events")
    op.drop_index("ix_usage_events_state_next_attempt_at", table_name="usage_events")
    op.drop_table("usage_events")
