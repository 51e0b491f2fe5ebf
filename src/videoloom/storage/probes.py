"""Read-only looks at the stores for ``/metrics`` and ``/readyz``: counts, a ping, a write test.

Kept apart from ``TaskRepository``: nothing here changes a task, and every
query is a cheap aggregate that a scrape every few seconds can afford.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from videoloom.core.tasks import TaskStatus
from videoloom.storage.blobs import BlobStore
from videoloom.storage.schema import tasks, webhook_deliveries

__all__ = ["StoreSnapshot", "blob_store_problem", "database_problem", "directory_problem", "snapshot"]

_PROBE_KEY = "_readyz/probe/probe"


@dataclass(frozen=True)
class StoreSnapshot:
    """What the task table and the webhook outbox hold right now."""

    tasks: dict[tuple[str, str], int] = field(default_factory=dict)
    """Task count by ``(status, model)``."""
    queued: int = 0
    oldest_queued_age: float = 0.0
    """Seconds the oldest queued task has waited; 0 when the queue is empty."""
    webhook_deliveries: dict[str, int] = field(default_factory=dict)
    """Delivery count by status (pending, delivered, failed, …)."""


async def snapshot(engine: AsyncEngine, *, now: float | None = None) -> StoreSnapshot:
    now = time.time() if now is None else now
    async with engine.connect() as conn:
        by_status = await conn.execute(
            select(tasks.c.status, tasks.c.model, func.count()).group_by(tasks.c.status, tasks.c.model)
        )
        counts = {(str(status), str(model)): int(n) for status, model, n in by_status}
        oldest = (
            await conn.execute(
                select(func.min(tasks.c.enqueued_at)).where(tasks.c.status == TaskStatus.QUEUED.value)
            )
        ).scalar_one()
        deliveries = await conn.execute(
            select(webhook_deliveries.c.status, func.count()).group_by(webhook_deliveries.c.status)
        )
        by_delivery = {str(status): int(n) for status, n in deliveries}
    queued = sum(n for (status, _), n in counts.items() if status == TaskStatus.QUEUED.value)
    return StoreSnapshot(
        tasks=counts,
        queued=queued,
        oldest_queued_age=max(0.0, now - float(oldest)) if oldest is not None else 0.0,
        webhook_deliveries=by_delivery,
    )


async def database_problem(engine: AsyncEngine) -> str | None:
    """None when ``SELECT 1`` answers, else why not."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def directory_problem(path: Path) -> str | None:
    """None when a file can be created (and removed) in ``path``, else why not. Blocking."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".readyz-", dir=path)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        return f"{path} is not writable: {exc.strerror or exc}"
    return None


def blob_store_problem(blobs: BlobStore) -> str | None:
    """A local store must be writable; a bucket must answer a metadata request. Blocking."""
    try:
        local = blobs.local_path(_PROBE_KEY)
        if local is not None:
            root = local.parents[len(Path(_PROBE_KEY).parts) - 1]
            return directory_problem(root)
        blobs.exists(_PROBE_KEY)  # False is fine: the point is that the bucket answered
    except Exception as exc:
        return f"blob store unavailable: {type(exc).__name__}: {exc}"
    return None
