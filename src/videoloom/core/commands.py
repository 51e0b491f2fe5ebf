"""Validated commands: what a dialect hands the task service after parsing its wire shape."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EditCommand", "ExtendCommand", "GenerateCommand"]


@dataclass(frozen=True, kw_only=True)
class GenerateCommand:
    model: str
    prompt: str
    images: tuple[str, ...] = ()
    """Reference image URLs (http, https or data:)."""
    size: str = "720P"
    aspect_ratio: str | None = None
    duration: int | None = None
    """Seconds of new content; None means the default (6)."""
    seed: int | None = None
    dimensions: tuple[int, int] | None = None
    """Exact (width, height), e.g. from the OpenAI dialect's ``1024x1792``; overrides size/aspect."""
    image_uploads: tuple[bytes, ...] = ()
    """Reference images sent as files with the request (already checked to decode)."""


@dataclass(frozen=True, kw_only=True)
class ExtendCommand(GenerateCommand):
    source_id: str
    start_time: int | None = None
    """Second of the source where the new content starts; None means the source's end."""
    upscale: bool = False


@dataclass(frozen=True, kw_only=True)
class EditCommand:
    source_id: str
    prompt: str
    model: str | None = None
    """None: the source's model when this server serves it, else the default model."""
