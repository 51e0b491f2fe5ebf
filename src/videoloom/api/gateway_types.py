"""Wire shapes of the gateway dialect (the seed's Video Extend API), named like the SDKs'."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

__all__ = [
    "GatewayError",
    "GatewayStatus",
    "UnifiedVideoCreateParams",
    "UnifiedVideoExtendParams",
    "VideoExtendParams",
    "VideoQueryResponse",
    "VideoTaskResponse",
]

GatewayStatus = Literal["processing", "completed", "failed"]
"""The seed's statuses: queued and running both read ``processing``; cancelled reads ``failed``."""


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: StrictStr
    """Model name, e.g. ``grok-video-3``."""
    prompt: StrictStr
    """Prompt for the new content."""
    images: list[StrictStr] | None = Field(default=None, max_length=4)
    """Reference image URLs (http, https or data:), at most 4."""
    size: StrictStr | None = None
    """``720P`` or ``1080P`` (case-insensitive); default 720P."""
    aspect_ratio: StrictStr | None = None
    """One of 16:9, 9:16, 1:1, 4:3, 3:4, 3:2, 2:3."""
    duration: StrictInt | None = Field(default=None, ge=1, le=15)
    """Seconds of new content, 1–15 (the seed's range); default 6."""
    seed: StrictInt | None = None
    """Makes the CPU engine's output repeatable."""


class UnifiedVideoCreateParams(_Params):
    """Body of ``POST /v1/video/create``; aspect_ratio defaults to 16:9."""


class VideoExtendParams(_Params):
    """Body of ``POST /v1/videos/{video_id}/extend``, as the seed documents it."""

    start_time: StrictInt | None = None
    """Second of the source where the new content starts; default: the source's end."""
    upscale: StrictBool = False
    """Render at the engine's native size, then enhance (Lanczos + sharpening) to ``size``."""


class UnifiedVideoExtendParams(VideoExtendParams):
    """Body of ``POST /v1/video/extend``: the same, with the source in ``task_id``."""

    task_id: StrictStr


class GatewayError(BaseModel):
    code: str
    message: str


class VideoTaskResponse(BaseModel):
    """Answer to a create or extend: the NEW task's id (the seed's "New extend task ID")."""

    id: str
    status: GatewayStatus
    status_update_time: int
    """Unix timestamp (seconds) of the latest status change."""
    model: str
    progress: int
    created_at: int
    """Unix timestamp (seconds)."""


class VideoQueryResponse(VideoTaskResponse):
    """Answer to ``GET /v1/video/query?id=…``."""

    object: Literal["video.task"] = "video.task"
    kind: str
    """generate, extend, remix or upload."""
    state: str
    """Videoloom's own finer status: queued, processing, completed, failed or cancelled."""
    prompt: str
    video_url: str | None
    """Signed, expiring URL of the MP4; null until completed."""
    thumbnail_url: str | None
    completed_at: int | None
    expires_at: int | None
    """Unix timestamp (seconds) after which the result is no longer served."""
    parent_id: str | None
    """For extends: the source video's id."""
    start_time: int | None
    """For extends: the cut point in the source, seconds; null means its end."""
    duration: float | None
    """Seconds of video in the output (for extends: kept part + new part)."""
    width: int | None
    height: int | None
    fps: float | None
    size: str | None
    aspect_ratio: str | None
    upscale: bool | None
    error: GatewayError | None
    worker_id: str | None
    """The worker that ran (or runs) the task: ``host:pid:id``."""
    started_at: int | None
    """Unix timestamp (seconds) of the latest claim by a worker; with completed_at, how long it ran."""
    attempts: int
    """How many times a worker claimed it (more than 1 after a lost worker)."""
    engine: dict[str, Any] | None = None
    """What the engine recorded, e.g. a relay's ``channel`` and ``upstream_request_id``."""
