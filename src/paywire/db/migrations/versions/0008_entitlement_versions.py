"""Entitlement versions: one row per user, moved forward by every write that can change what
the user may do, so caches of entitlements know when theirs are stale; customers found by their
test clock (a clock's move moves the versions of everyone on it).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "entitlement_versions",
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_entitlement_versions")),
    )
    op.create_index("ix_entitlement_versions_version", "entitlement_versions", ["version"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.schema.CreateSequence(sa.Sequence("entitlement_versions_seq")))
    op.create_index("ix_customers_test_clock_id", "customers", ["test_clock_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_customers_test_clock_id", table_name="customers")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.schema.DropSequence(sa.Sequence("entitlement_versions_seq")))
    op.drop_index("ix_entitlement_versions_version", table_name="entitlement_versions")
    op.drop_table("entitlement_versions")
