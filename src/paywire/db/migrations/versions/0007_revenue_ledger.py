"""The revenue ledger: every change of a subscription's monthly value (`paywire.revenue`).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revenue_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.String(length=255), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("occurred_at", sa.BigInteger(), nullable=False),
        sa.Column("mrr_before", sa.BigInteger(), nullable=False),
        sa.Column("mrr_after", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=True),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.Column("churn", sa.String(length=16), nullable=True),
        sa.Column("plan", sa.String(length=64), nullable=True),
        sa.Column("interval", sa.String(length=16), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_event_id", sa.String(length=255), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revenue_changes")),
        sa.UniqueConstraint("subscription_id", "seq", name=op.f("uq_revenue_changes_subscription_id")),
    )
    op.create_index("ix_revenue_changes_occurred_at", "revenue_changes", ["occurred_at"], unique=False)
    op.create_index(
        op.f("ix_revenue_changes_stripe_customer_id"), "revenue_changes", ["stripe_customer_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_revenue_changes_stripe_customer_id"), table_name="revenue_changes")
    op.drop_index("ix_revenue_changes_occurred_at", table_name="revenue_changes")
    op.drop_table("revenue_changes")
