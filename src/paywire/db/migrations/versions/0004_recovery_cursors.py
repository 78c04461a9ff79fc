"""Recovery cursors: the kept `/v1/events` cursor (with its lease) and `paywire sync` checkpoints.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cursors",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("stripe_time", sa.BigInteger(), nullable=True),
        sa.Column("last_id", sa.String(length=255), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("held_by", sa.String(length=255), nullable=True),
        sa.Column("held_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cursors")),
    )
    op.create_table(
        "sync_seen",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("resource", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "resource", "object_id", name=op.f("pk_sync_seen")),
    )


def downgrade() -> None:
    op.drop_table("sync_seen")
    op.drop_table("cursors")
