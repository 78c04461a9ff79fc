"""Refunds and disputes: refunds mirrored with their states, the refund requests paywire was
asked (each done once), disputes with their evidence's state and whose payment they are, the
evidence drafted for each, and the access log that evidence draws on.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def dispute_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=True),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("payment_id", sa.String(length=255), nullable=True),
        sa.Column("has_evidence", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("submission_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("past_due", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("is_charge_refundable", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("network_reason_code", sa.String(length=16), nullable=True),
        sa.Column("closed_at", sa.BigInteger(), nullable=True),
    ]


def upgrade() -> None:
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        for column in dispute_columns():
            batch_op.add_column(column)
        batch_op.create_index("ix_disputes_user_id", ["user_id"], unique=False)
    op.create_table(
        "refunds",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("charge_id", sa.String(length=255), nullable=True),
        sa.Column("payment_intent_id", sa.String(length=255), nullable=True),
        sa.Column("payment_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=True),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("failure_reason", sa.String(length=64), nullable=True),
        sa.Column("requested_by", sa.String(length=255), nullable=True),
        sa.Column("stripe_created", sa.BigInteger(), nullable=False),
        sa.Column("stripe_version", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
    )
    op.create_index("ix_refunds_charge_id", "refunds", ["charge_id"], unique=False)
    op.create_index("ix_refunds_payment_intent_id", "refunds", ["payment_intent_id"], unique=False)
    op.create_index("ix_refunds_payment_id", "refunds", ["payment_id"], unique=False)
    op.create_index("ix_refunds_user_id", "refunds", ["user_id"], unique=False)
    op.create_table(
        "refund_requests",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("payment_id", sa.String(length=255), nullable=False),
        sa.Column("requested_by", sa.String(length=255), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_refund_requests")),
    )
    op.create_table(
        "dispute_evidence",
        sa.Column("dispute_id", sa.String(length=255), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("documents", sa.JSON(), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("edited_by", sa.String(length=255), nullable=True),
        sa.Column("staged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submitted_by", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("dispute_id", name=op.f("pk_dispute_evidence")),
    )
    op.create_table(
        "access_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("detail", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_log")),
    )
    op.create_index("ix_access_log_user_id_at", "access_log", ["user_id", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_access_log_user_id_at", table_name="access_log")
    op.drop_table("access_log")
    op.drop_table("dispute_evidence")
    op.drop_table("refund_requests")
    op.drop_index("ix_refunds_user_id", table_name="refunds")
    op.drop_index("ix_refunds_payment_id", table_name="refunds")
    op.drop_index("ix_refunds_payment_intent_id", table_name="refunds")
    op.drop_index("ix_refunds_charge_id", table_name="refunds")
    op.drop_table("refunds")
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.drop_index("ix_disputes_user_id")
        for column in reversed(dispute_columns()):
            batch_op.drop_column(column.name)
