"""steps.reclaims: how many times a worker died holding the step (counts toward step_max_attempts).

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("steps") as batch:
        batch.add_column(sa.Column("reclaims", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("steps") as batch:
        batch.drop_column("reclaims")
