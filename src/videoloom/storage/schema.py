"""Tables, as SQLAlchemy Core metadata. Migrations in ``migrations/versions`` create them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = ["api_keys", "metadata", "tasks"]

metadata = MetaData()

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("tenant_id", String(64), nullable=False),
    # SHA-256 of the key: keys are 256-bit random tokens, so a fast hash is enough
    # (no dictionary to attack) and lets authentication be one indexed lookup.
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("key_prefix", String(16), nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("created_at", Integer, nullable=False),
    Column("revoked_at", Integer, nullable=True),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("model", String(64), nullable=False),
    Column("prompt", Text, nullable=False, default=""),
    Column("params", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("progress", Integer, nullable=False, default=0),
    Column("created_at", Integer, nullable=False),
    Column("status_update_time", Integer, nullable=False),
    # Sub-second queue order; created_at alone ties within a second.
    Column("enqueued_at", Float, nullable=False),
    Column("started_at", Integer, nullable=True),
    Column("completed_at", Integer, nullable=True),
    Column("expires_at", Integer, nullable=True),
    Column("error_code", String(64), nullable=True),
    Column("error_message", Text, nullable=True),
    Column("duration", Float, nullable=True),
    Column("width", Integer, nullable=True),
    Column("height", Integer, nullable=True),
    Column("fps", Float, nullable=True),
    Column("parent_id", String(80), nullable=True),
    Column("start_time", Integer, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("worker_id", String(128), nullable=True),
    Column("lease_expires_at", Float, nullable=True),
    Column("video_key", String(255), nullable=True),
    Column("thumbnail_key", String(255), nullable=True),
    Index("ix_tasks_queue", "status", "enqueued_at"),
    Index("ix_tasks_tenant_created", "tenant_id", "created_at"),
)
