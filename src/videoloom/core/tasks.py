"""The task: one record for every kind of job, and the state machine it moves through.

    queued ──claim──▶ processing ──▶ completed
      │  ▲               │  │
      │  └──lease lost───┘  └──────▶ failed
      └──────────────────────────────▶ failed | cancelled

A task whose worker stops heartbeating goes back to ``queued`` (at-least-once);
after ``max_attempts`` claims it fails with ``worker_lost``. The repository's
UPDATE statements carry ``WHERE status IN (…)`` built from ``ALLOWED_TRANSITIONS``,
so the database itself refuses an invalid move.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ALLOWED_TRANSITIONS",
    "TERMINAL_STATUSES",
    "Task",
    "TaskError",
    "TaskKind",
    "TaskStatus",
    "sources_of",
]


class TaskStatus(enum.StrEnum):
    QUEUED = "queued"
    """Accepted and waiting for a worker."""
    PROCESSING = "processing"
    """Claimed by a worker holding a lease."""
    COMPLETED = "completed"
    """The output file is durable and downloadable."""
    FAILED = "failed"
    """Stopped for good; ``error`` says why."""
    CANCELLED = "cancelled"
    """Stopped on request before completing."""


TERMINAL_STATUSES = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})

ALLOWED_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.QUEUED: frozenset({TaskStatus.PROCESSING, TaskStatus.FAILED, TaskStatus.CANCELLED}),
    TaskStatus.PROCESSING: frozenset(
        {TaskStatus.QUEUED, TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED}
    ),
    TaskStatus.COMPLETED: frozenset(),
    TaskStatus.FAILED: frozenset(),
    TaskStatus.CANCELLED: frozenset(),
}


def sources_of(target: TaskStatus) -> frozenset[TaskStatus]:
    """Statuses from which ``target`` may be entered."""
    return frozenset(s for s, targets in ALLOWED_TRANSITIONS.items() if target in targets)


class TaskKind(enum.StrEnum):
    GENERATE = "generate"
    """Text and/or images → video."""
    EXTEND = "extend"
    """Keep a source video up to ``start_time``, then continue it."""
    REMIX = "remix"
    """Same parameters as an earlier task, new prompt."""
    UPLOAD = "upload"
    """A user's own video, stored as a completed task."""
    EDIT = "edit"
    """Re-render a finished video as the prompt asks (grade, speed, crop, stabilise…)."""


@dataclass(frozen=True, kw_only=True)
class TaskError:
    code: str
    """Stable machine-readable reason, e.g. ``image_fetch_failed``, ``worker_lost``."""
    message: str


@dataclass(frozen=True, kw_only=True)
class Task:
    id: str
    """``<family>:<uuid4>``, e.g. ``grok:48a67431-…``."""
    tenant_id: str
    kind: TaskKind
    model: str
    prompt: str
    params: dict[str, Any] = field(default_factory=dict)
    """Validated request parameters (size, aspect_ratio, duration, images, upscale, seed…)."""
    status: TaskStatus = TaskStatus.QUEUED
    progress: int = 0
    """Percent done, 0–100."""
    created_at: int
    """Unix timestamp (seconds)."""
    status_update_time: int
    """Unix timestamp (seconds) of the latest status change."""
    started_at: int | None = None
    completed_at: int | None = None
    expires_at: int | None = None
    """Unix timestamp (seconds) after which the result is no longer served."""
    error: TaskError | None = None
    duration: float | None = None
    """Output length in seconds."""
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    parent_id: str | None = None
    """For extends and remixes: the source task."""
    start_time: int | None = None
    """For extends: the second of the source where new content starts."""
    attempts: int = 0
    worker_id: str | None = None
    video_key: str | None = None
    thumbnail_key: str | None = None
    api_key_id: int | None = None
    """The API key that created it (usage accounting); None for tasks made before keys were recorded."""
    engine_report: dict[str, Any] | None = None
    """What the engine recorded (``GenerateJob.report``), e.g. the relay channel and upstream request id."""

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def evolve(self, **changes: Any) -> Task:
        return dataclasses.replace(self, **changes)
