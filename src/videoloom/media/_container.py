"""Opening inputs and picking their video stream, with PyAV errors turned into ``MediaError``.

Every reader in this package goes through here so that "not a video" is reported
the same way (``MediaError``, code ``invalid_media``) whatever the cause.
Only the MP4/MOV family and Matroska/WebM are accepted: FFmpeg will otherwise
happily open a JPEG as a one-frame video or a text file as ANSI-art "video".
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction

import av
from av.container import InputContainer
from av.stream import Disposition
from av.video.stream import VideoStream

from videoloom.core.errors import MediaError

__all__ = ["ACCEPTED_FORMATS", "AV_ERRORS", "as_rate", "frame_rate", "open_input", "video_stream"]

ACCEPTED_FORMATS = frozenset({"mov", "mp4", "m4a", "3gp", "3g2", "mj2", "matroska", "webm"})
"""FFmpeg demuxer names that Videoloom reads: the MP4/MOV family and Matroska/WebM."""

AV_ERRORS: tuple[type[BaseException], ...] = (av.FFmpegError, OSError, EOFError)
"""What PyAV raises for unreadable, truncated or unsupported media."""


@contextmanager
def open_input(path: str | os.PathLike[str]) -> Iterator[InputContainer]:
    """Open ``path`` for reading; a file PyAV cannot open becomes ``MediaError``."""
    name = os.fspath(path)
    try:
        container = av.open(name, mode="r")
    except AV_ERRORS as exc:
        # strerror, not str(exc): PyAV's text ends with the server-side path of the file.
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise MediaError(f"cannot open the file as media: {reason}") from exc
    try:
        if not set(container.format.name.split(",")) & ACCEPTED_FORMATS:
            raise MediaError(f"unsupported file type {container.format.name!r}: use MP4, MOV or WebM")
        yield container
    finally:
        container.close()


def video_stream(container: InputContainer) -> VideoStream:
    """The first real video stream (cover art and other still pictures are skipped)."""
    for stream in container.streams.video:
        if not stream.disposition & Disposition.attached_pic:
            return stream
    raise MediaError("the file has no video stream")


def frame_rate(stream: VideoStream) -> Fraction:
    """Average frame rate, falling back to FFmpeg's guess; ``MediaError`` when neither exists."""
    for rate in (stream.average_rate, stream.guessed_rate):
        if rate is not None and rate > 0:
            return Fraction(rate)
    raise MediaError("the video stream has no frame rate")


def as_rate(fps: Fraction | int | float | str) -> Fraction:
    """Normalise a caller's frame rate; floats like 29.97 become 2997/100, not a binary fraction."""
    try:
        rate = fps if isinstance(fps, Fraction) else Fraction(str(fps)).limit_denominator(1001)
    except (ValueError, ZeroDivisionError) as exc:
        raise ValueError(f"invalid frame rate {fps!r}") from exc
    if rate <= 0:
        raise ValueError(f"frame rate must be positive, got {fps!r}")
    return rate
