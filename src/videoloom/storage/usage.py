"""Usage accounting: one row per finished task, summed per API key, day and model.

The worker writes a row in the transaction that completes or fails a task
(``TaskRepository.complete`` / ``fail``), so a finished task is never missing
from usage nor counted twice (``task_id`` is unique). Completed tasks record
the seconds they generated (an extend's new part, not the kept part); failed
ones record 0 s.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from videoloom.storage.schema import api_keys, usage

__all__ = ["UsageRepository", "UsageSummary", "usage_row"]


def usage_row(
    *,
    task_id: str,
    tenant_id: str,
    api_key_id: int | None,
    model: str,
    engine: str | None,
    channel: str | None,
    status: str,
    seconds: float,
    width: int | None,
    height: int | None,
    now: float,
) -> dict[str, Any]:
    """The ``usage`` row of one finished task (``day`` is the UTC date it finished)."""
    return {
        "task_id": task_id,
        "tenant_id": tenant_id,
        "api_key_id": api_key_id,
        "model": model,
        "engine": engine,
        "channel": channel,
        "status": status,
        "seconds": round(max(0.0, seconds), 3),
        "resolution": f"{width}x{height}" if width and height else None,
        "day": datetime.fromtimestamp(now, UTC).date().isoformat(),
        "created_at": int(now),
    }


@dataclass(kw_only=True)
class UsageSummary:
    """One API key's use of one model on one day."""

    api_key_id: int | None
    api_key: str | None
    """The key's name (None for tasks without a recorded key)."""
    day: str
    model: str
    seconds: float = 0.0
    tasks: int = 0
    completed: int = 0
    failed: int = 0
    channels: dict[str, float] = field(default_factory=dict)
    """Seconds per upstream channel (relay models); local engines are not listed."""
    resolutions: dict[str, float] = field(default_factory=dict)
    """Seconds per output resolution, e.g. ``{"1280x720": 12.0}``."""


class UsageRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def summary(self, tenant_id: str, *, start: date | None, end: date | None) -> list[UsageSummary]:
        """The tenant's usage between ``start`` and ``end`` (inclusive UTC days), per key, day, model."""
        grouped = (
            usage.c.api_key_id,
            api_keys.c.name,
            usage.c.day,
            usage.c.model,
            usage.c.channel,
            usage.c.resolution,
            usage.c.status,
        )
        query = (
            select(*grouped, func.sum(usage.c.seconds).label("seconds"), func.count().label("tasks"))
            .select_from(usage.outerjoin(api_keys, api_keys.c.id == usage.c.api_key_id))
            .where(usage.c.tenant_id == tenant_id)
            .group_by(*grouped)
        )
        if start is not None:
            query = query.where(usage.c.day >= start.isoformat())
        if end is not None:
            query = query.where(usage.c.day <= end.isoformat())
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        groups: dict[tuple[Any, ...], UsageSummary] = {}
        for row in rows:
            key = (row["api_key_id"], row["day"], row["model"])
            entry = groups.get(key)
            if entry is None:
                entry = groups[key] = UsageSummary(
                    api_key_id=row["api_key_id"], api_key=row["name"], day=row["day"], model=row["model"]
                )
            seconds = float(row["seconds"] or 0)
            entry.seconds += seconds
            entry.tasks += int(row["tasks"])
            if row["status"] == "completed":
                entry.completed += int(row["tasks"])
            else:
                entry.failed += int(row["tasks"])
            if row["channel"]:
                entry.channels[row["channel"]] = entry.channels.get(row["channel"], 0.0) + seconds
            if row["resolution"]:
                resolutions = defaultdict(float, entry.resolutions)
                resolutions[row["resolution"]] += seconds
                entry.resolutions = dict(resolutions)
        for entry in groups.values():
            entry.seconds = round(entry.seconds, 3)
        return sorted(groups.values(), key=lambda e: (e.day, e.api_key or "", e.model))
