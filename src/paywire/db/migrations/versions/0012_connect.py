"""Marketplaces on Stripe Connect: sellers and their connected accounts' state, and the money
after a sale: transfers, application fees, payouts, disputes, multi-seller orders.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sellers",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("display_name", sa.String(length=255), nullable=True),
        sa.Column("livemode", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("card_payments", sa.String(length=32), nullable=True),
        sa.Column("transfers", sa.String(length=32), nullable=True),
        sa.Column("payouts", sa.String(length=32), nullable=True),
        sa.Column("disabled_reason", sa.String(length=64), nullable=True),
        sa.Column("requirements", sa.JSON(), nullable=False),
        sa.Column("deadline_status", sa.String(length=32), nullable=True),
        sa.Column("deadline", sa.BigInteger(), nullable=True),
        sa.Column("balance_available", sa.JSON(), nullable=False),
        sa.Column("balance_pending", sa.JSON(), nullable=False),
        sa.Column("balance_version", sa.BigInteger(), nullable=True),
        sa.Column("fee_percent", sa.String(length=16), nullable=True),
        sa.Column("fee_fixed", sa.BigInteger(), nullable=True),
        sa.Column("stripe_version", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sellers")),
        sa.UniqueConstraint("user_id", name=op.f("uq_sellers_user_id")),
    )
    op.create_table(
        "connect_transfers",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("account_id", sa.String(length=255), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("amount_reversed", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("charge_id", sa.String(length=255), nullable=True),
        sa.Column("payment_intent_id", sa.String(length=255), nullable=True),
        sa.Column("transfer_group", sa.String(length=255), nullable=True),
        sa.Column("gross", sa.BigInteger(), nullable=True),
        sa.Column("platform_fee", sa.BigInteger(), nullable=True),
        sa.Column("product", sa.String(length=64), nullable=True),
        sa.Column("buyer_user_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_created", sa.BigInteger(), nullable=False),
        sa.Column("stripe_version", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connect_transfers")),
    )
    op.create_index("ix_connect_transfers_account_id", "connect_transfers", ["account_id"], unique=False)
    op.create_index("ix_connect_transfers_charge_id", "connect_transfers", ["charge_id"], unique=False)
    op.create_table(
        "application_fees",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("account_id", sa.String(length=255), nullable=False),
        sa.Column("charge_id", sa.String(length=255), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("amount_refunded", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("stripe_created", sa.BigInteger(), nullable=False),
        sa.Column("stripe_version", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_fees")),
    )
    op.create_index("ix_application_fees_account_id", "application_fees", ["account_id"], unique=False)
    op.create_index("ix_application_fees_charge_id", "application_fees", ["charge_id"], unique=False)
    op.create_table(
        "payouts",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("account_id", sa.String(length=255), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("arrival_date", sa.BigInteger(), nullable=True),
        sa.Column("failure_code", sa.String(length=64), nullable=True),
        sa.Column("failure_message", sa.Text(), nullable=True),
        sa.Column("stripe_created", sa.BigInteger(), nullable=False),
        sa.Column("stripe_version", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payouts")),
    )
    op.create_index("ix_payouts_account_id", "payouts", ["account_id"], unique=False)
    op.create_table(
        "disputes",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("charge_id", sa.String(length=255), nullable=False),
        sa.Column("payment_intent_id", sa.String(length=255), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("evidence_due_by", sa.BigInteger(), nullable=True),
        sa.Column("stripe_created", sa.BigInteger(), nullable=False),
        sa.Column("stripe_version", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes")),
    )
    op.create_index("ix_disputes_charge_id", "disputes", ["charge_id"], unique=False)
    op.create_table(
        "marketplace_orders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("checkout_session_id", sa.String(length=255), nullable=False),
        sa.Column("buyer_user_id", sa.String(length=255), nullable=False),
        sa.Column("transfer_group", sa.String(length=255), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("transfers", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_orders")),
        sa.UniqueConstraint("checkout_session_id", name=op.f("uq_marketplace_orders_checkout_session_id")),
    )
    op.create_index("ix_marketplace_orders_buyer_user_id", "marketplace_orders", ["buyer_user_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_marketplace_orders_buyer_user_id", table_name="marketplace_orders")
    op.drop_table("marketplace_orders")
    op.drop_index("ix_disputes_charge_id", table_name="disputes")
    op.drop_table("disputes")
    op.drop_index("ix_payouts_account_id", table_name="payouts")
    op.drop_table("payouts")
    op.drop_index("ix_application_fees_charge_id", table_name="application_fees")
    op.drop_index("ix_application_fees_account_id", table_name="application_fees")
    op.drop_table("application_fees")
    op.drop_index("ix_connect_transfers_charge_id", table_name="connect_transfers")
    op.drop_index("ix_connect_transfers_account_id", table_name="connect_transfers")
    op.drop_table("connect_transfers")
    op.drop_table("sellers")
