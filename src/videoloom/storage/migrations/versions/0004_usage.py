"""Usage accounting: the creating API key on tasks, the engine's report, and the usage table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("api_key_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("engine_report", sa.JSON, nullable=True))
    op.create_table(
        "usage",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(80), nullable=False, unique=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("api_key_id", sa.Integer, nullable=True),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("engine", sa.String(32), nullable=True),
        sa.Column("channel", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("resolution", sa.String(16), nullable=True),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("created_at", sa.Integer, nullable=False),
    )
    op.create_index("ix_usage_tenant_day", "usage", ["tenant_id", "day"])


def downgrade() -> None:
    op.drop_index("ix_usage_tenant_day", table_name="usage")
    op.drop_table("usage")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("engine_report")
        batch.drop_column("api_key_id")
