"""Wire shapes of the OpenAI Videos API, as the ``openai`` SDK's ``types/`` names them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

__all__ = ["Video", "VideoCreateError", "VideoDeleteResponse", "VideoList", "VideoStatus"]

VideoStatus = Literal["queued", "in_progress", "completed", "failed", "processing"]
"""OpenAI's four statuses; ``processing`` only when ``openai_status_vocabulary = "gateway"``."""


class VideoCreateError(BaseModel):
    code: str
    message: str


class Video(BaseModel):
    """A video job, field for field as the SDK's ``types/video.py`` (plus Videoloom extras)."""

    id: str
    object: Literal["video"] = "video"
    model: str
    status: VideoStatus
    progress: int
    """Approximate completion percentage, 0–100."""
    created_at: int
    """Unix timestamp (seconds)."""
    completed_at: int | None
    """Unix timestamp (seconds), once finished."""
    expires_at: int | None
    """Unix timestamp (seconds) after which the content is no longer served."""
    prompt: str | None
    seconds: str
    """Whole seconds as a string; for extensions the stitched total."""
    size: str
    """``WxH``, e.g. ``1280x720``."""
    remixed_from_video_id: str | None
    error: VideoCreateError | None
    # Videoloom extras (the SDK keeps unknown fields):
    kind: str
    """generate, extend, remix, edit or upload."""
    parent_id: str | None
    """The source video of an extend, remix or edit."""
    start_time: int | None
    """For extends: the cut point in the source, seconds; null means its end."""


class VideoList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Video]
    first_id: str | None
    last_id: str | None
    has_more: bool


class VideoDeleteResponse(BaseModel):
    id: str
    object: Literal["video.deleted"] = "video.deleted"
    deleted: bool
