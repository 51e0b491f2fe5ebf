"""``probe``: the facts about a video that the rest of Videoloom plans around."""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction

from av.container import InputContainer
from av.video.stream import VideoStream

from videoloom.core.errors import MediaError
from videoloom.media._container import AV_ERRORS, frame_rate, open_input, video_stream

__all__ = ["VideoInfo", "probe"]


@dataclass(frozen=True, kw_only=True)
class VideoInfo:
    """Size, rate and length of a video's first video stream."""

    width: int
    height: int
    fps: Fraction
    """Average frame rate, e.g. ``Fraction(24)`` or ``Fraction(30000, 1001)``."""
    duration: float
    """Seconds, ``frame_count / fps``."""
    frame_count: int
    codec: str
    """FFmpeg codec name, e.g. ``"h264"``, ``"vp9"``."""
    pix_fmt: str | None


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Describe the video at ``path``.

    The frame count comes from the container when it records one (MP4/MOV) and
    is counted by decoding otherwise (WebM/Matroska). Raises ``MediaError`` when
    the file cannot be opened, has no video stream, or has no frames.
    """
    with open_input(path) as container:
        stream = video_stream(container)
        fps = frame_rate(stream)
        frame_count = stream.frames if stream.frames > 0 else _count_frames(container, stream)
        if frame_count <= 0:
            raise MediaError("the video has no frames")
        ctx = stream.codec_context
        if not ctx.width or not ctx.height:
            raise MediaError("the video stream has no frame size")
        return VideoInfo(
            width=ctx.width,
            height=ctx.height,
            fps=fps,
            duration=float(frame_count / fps),
            frame_count=frame_count,
            codec=ctx.name,
            pix_fmt=ctx.pix_fmt,
        )


def _count_frames(container: InputContainer, stream: VideoStream) -> int:
    """Decode (without converting pixels) and count; the only exact count some containers allow."""
    stream.codec_context.thread_type = "AUTO"
    count = 0
    try:
        for _ in container.decode(stream):
            count += 1
    except AV_ERRORS as exc:
        raise MediaError(f"the video cannot be decoded: {exc}") from exc
    return count
