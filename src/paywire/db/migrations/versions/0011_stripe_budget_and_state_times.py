"""The request budget's shared row (PostgreSQL), and when in its object's own time each
mirrored subscription and invoice stood (the payload rule: `paywire.mirror.payloads`).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

STATE_TABLES = ("subscriptions", "invoices")


def upgrade() -> None:
    op.create_table(
        "stripe_budget",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("next_slot", sa.Float(), nullable=False),
        sa.Column("shrunk_rate", sa.Float(), nullable=True),
        sa.Column("held_until", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_stripe_budget")),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Written on every request to Stripe, needed by nobody after a crash (a lost budget
        # starts full): no WAL for it.
        op.execute("ALTER TABLE stripe_budget SET UNLOGGED")
    for table in STATE_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("stripe_time_from", sa.BigInteger(), nullable=True))
            batch.add_column(sa.Column("stripe_time_to", sa.BigInteger(), nullable=True))
            batch.add_column(sa.Column("stripe_event_id", sa.String(length=255), nullable=True))


def downgrade() -> None:
    for table in STATE_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("stripe_event_id")
            batch.drop_column("stripe_time_to")
            batch.drop_column("stripe_time_from")
    op.drop_table("stripe_budget")
