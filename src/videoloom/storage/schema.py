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
    text,
)

__all__ = [
    "api_keys",
    "idempotency_keys",
    "metadata",
    "rate_limit_hits",
    "tasks",
    "usage",
    "webhook_deliveries",
    "webhook_endpoints",
]

metadata = MetaData()

# The webhook announcer's predicate; the partial index holds only tasks still to announce.
_UNANNOUNCED = text("announced_at IS NULL AND status IN ('completed', 'failed') AND kind != 'upload'")

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
    # When the webhook announcer queued this task's event (migration 0002); NULL = not yet.
    Column("announced_at", Float, nullable=True),
    # The API key that created it (migration 0004); NULL for tasks from before, and uploads
    # made by other means. Not a foreign key: usage outlives a deleted key's row.
    Column("api_key_id", Integer, nullable=True),
    # What the engine asked to record (``GenerateJob.report``: relay channel, upstream id).
    Column("engine_report", JSON, nullable=True),
    Index("ix_tasks_queue", "status", "enqueued_at"),
    Index("ix_tasks_tenant_created", "tenant_id", "created_at"),
    Index(
        "ix_tasks_unannounced",
        "status_update_time",
        sqlite_where=_UNANNOUNCED,
        postgresql_where=_UNANNOUNCED,
    ),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("name", String(256), nullable=False),
    Column("url", Text, nullable=False),
    Column("event_types", JSON, nullable=False),
    # Stored as given, not hashed (unlike API keys): an HMAC signature needs the secret
    # itself. Protect the database like data_dir/secret.key.
    Column("secret", String(128), nullable=False),
    Column("previous_secret", String(128), nullable=True),
    Column("previous_secret_expires_at", Integer, nullable=True),
    Column("created_at", Integer, nullable=False),
    Column("updated_at", Integer, nullable=False),
    Index("ix_webhook_endpoints_tenant", "tenant_id", "id"),
)

# The outbox: one row per (event, endpoint), inserted in the transaction that marks the
# task announced, then sent (and retried) by the dispatcher.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(40), primary_key=True),
    # A tenant endpoint's id (whe_…) or an operator endpoint's (operator_…).
    Column("endpoint_id", String(80), nullable=False),
    Column("tenant_id", String(64), nullable=False),
    Column("task_id", String(80), nullable=True),
    Column("event_id", String(40), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("event_created_at", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("created_at", Integer, nullable=False),
    Column("updated_at", Integer, nullable=False),
    Column("delivered_at", Integer, nullable=True),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_endpoint", "endpoint_id"),
    Index("ix_webhook_deliveries_event_endpoint", "event_id", "endpoint_id", unique=True),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    # SHA-256 of the route and the canonical request body: the same key with another body is a 409.
    Column("fingerprint", String(64), nullable=False),
    Column("task_id", String(80), nullable=True),
    Column("created_at", Float, nullable=False),
    Index("ix_idempotency_created", "created_at"),
)

# One row per finished task (migration 0004), written in the transaction that completes or
# fails it: what each API key generated, for ``GET /v1/usage``. Failed tasks record 0 s.
usage = Table(
    "usage",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task_id", String(80), nullable=False, unique=True),
    Column("tenant_id", String(64), nullable=False),
    Column("api_key_id", Integer, nullable=True),
    Column("model", String(64), nullable=False),
    Column("engine", String(32), nullable=True),
    Column("channel", String(64), nullable=True),
    Column("status", String(16), nullable=False),
    Column("seconds", Float, nullable=False),
    Column("resolution", String(16), nullable=True),
    Column("day", String(10), nullable=False),
    Column("created_at", Integer, nullable=False),
    Index("ix_usage_tenant_day", "tenant_id", "day"),
)

# One row per creating request admitted in the last minute, per API key (migration 0005):
# the rate limit the API nodes of a PostgreSQL cluster share (storage/rate_limits.py).
rate_limit_hits = Table(
    "rate_limit_hits",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(128), nullable=False),
    Column("at", Float, nullable=False),
    Index("ix_rate_limit_hits_key_at", "key", "at"),
)
