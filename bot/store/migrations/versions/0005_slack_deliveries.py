"""Signed Slack requests already acted on (replay protection across replicas).

Revision ID: 0005
Revises: 0004
Create Date: 2025-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_deliveries",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_slack_deliveries")),
    )
    op.create_index(op.f("ix_slack_deliveries_seen_at"), "slack_deliveries", ["seen_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_slack_deliveries_seen_at"), table_name="slack_deliveries")
    op.drop_table("slack_deliveries")
