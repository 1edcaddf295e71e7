"""Following deployments and promotions: steps.merge_sha, deployments, promotions.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("steps") as batch:
        batch.add_column(sa.Column("merge_sha", sa.String(length=64), nullable=True))

    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=63), nullable=False),
        sa.Column("environment", sa.String(length=32), nullable=False),
        sa.Column("application", sa.String(length=253), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("image", sa.String(length=512), nullable=True),
        sa.Column("revision", sa.String(length=64), nullable=True),
        sa.Column("link", sa.String(length=500), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"], name=op.f("fk_deployments_request_id_requests"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
        sa.UniqueConstraint("request_id", "environment", name=op.f("uq_deployments_request_id_environment")),
    )
    op.create_index(op.f("ix_deployments_service_environment_id"), "deployments", ["service", "environment", "id"])

    op.create_table(
        "promotions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=63), nullable=False),
        sa.Column("source_environment", sa.String(length=32), nullable=False),
        sa.Column("target_environment", sa.String(length=32), nullable=False),
        sa.Column("image", sa.String(length=512), nullable=False),
        sa.Column("digest", sa.String(length=80), nullable=True),
        sa.Column("source_revision", sa.String(length=64), nullable=True),
        sa.Column("verified", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"], name=op.f("fk_promotions_request_id_requests"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotions")),
        sa.UniqueConstraint("request_id", name=op.f("uq_promotions_request_id")),
    )
    op.create_index(op.f("ix_promotions_service"), "promotions", ["service"])


def downgrade() -> None:
    op.drop_index(op.f("ix_promotions_service"), table_name="promotions")
    op.drop_table("promotions")
    op.drop_index(op.f("ix_deployments_service_environment_id"), table_name="deployments")
    op.drop_table("deployments")
    with op.batch_alter_table("steps") as batch:
        batch.drop_column("merge_sha")
