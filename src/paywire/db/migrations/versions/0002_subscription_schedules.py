"""Subscription schedules: the mirror of Stripe's schedules (changes waiting for the period end).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscription_schedules",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("subscription_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("end_behavior", sa.String(length=32), nullable=True),
        sa.Column("current_phase", sa.JSON(), nullable=True),
        sa.Column("phases", sa.JSON(), nullable=False),
        sa.Column("stripe_object", sa.JSON(), nullable=False),
        sa.Column("stripe_version", sa.BigInteger(), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_schedules")),
    )
    with op.batch_alter_table("subscription_schedules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_subscription_schedules_subscription_id"), ["subscription_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("subscription_schedules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscription_schedules_subscription_id"))
    op.drop_table("subscription_schedules")
