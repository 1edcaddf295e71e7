"""Password resets counted in the database: the hourly per-user limit holds across replicas and CLI runs.

Revision ID: 0006
Revises: 0005
Create Date: 2025-01-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "password_resets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("iam_user", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_resets")),
    )
    op.create_index(op.f("ix_password_resets_iam_user_at"), "password_resets", ["iam_user", "at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_password_resets_iam_user_at"), table_name="password_resets")
    op.drop_table("password_resets")
