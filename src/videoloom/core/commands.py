"""Validated commands: what a dialect hands the task service after parsing its wire shape."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ExtendCommand", "GenerateCommand"]


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


@dataclass(frozen=True, kw_only=True)
class ExtendCommand(GenerateCommand):
    source_id: str
    start_time: int | None = None
    """Second of the source where the new content starts; None means the source's end."""
    upscale: bool = False
    extra: dict[str, object] = field(default_factory=dict)
