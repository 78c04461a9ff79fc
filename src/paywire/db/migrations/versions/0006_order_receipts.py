"""Orders keep what makes a purchase a payment record: when it was paid, its invoice and its receipt.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paid_at", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("invoice_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("receipt_url", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("receipt_url")
        batch_op.drop_column("invoice_id")
        batch_op.drop_column("paid_at")
