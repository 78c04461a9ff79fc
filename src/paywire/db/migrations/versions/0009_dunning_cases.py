"""Dunning cases: one row per invoice whose payment failed, and how its dunning ended.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dunning_cases",
        sa.Column("invoice_id", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("subscription_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=False),
        sa.Column("amount", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(length=16), server_default="open", nullable=False),
        sa.Column("recovered_after_attempt", sa.Integer(), nullable=True),
        sa.Column("recovered_by", sa.String(length=16), nullable=True),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("outcome IN ('open', 'recovered', 'lost')", name=op.f("ck_dunning_cases_outcome")),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_dunning_cases")),
    )
    op.create_index("ix_dunning_cases_user_id", "dunning_cases", ["user_id"], unique=False)
    op.create_index("ix_dunning_cases_outcome", "dunning_cases", ["outcome"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_dunning_cases_outcome", table_name="dunning_cases")
    op.drop_index("ix_dunning_cases_user_id", table_name="dunning_cases")
    op.drop_table("dunning_cases")
