"""``iter_frames``: frame-accurate decoding to RGB arrays.

Frame ``i`` is the ``i``-th frame in presentation order, exactly as a decode
from the start would number it. Starting mid-video seeks to the keyframe before
the wanted frame (FFmpeg seeks only land on keyframes) and decodes forward,
dropping frames until the wanted presentation timestamp. The wanted timestamp
comes from a demux-only pass over the packets (cheap: no decoding), so variable
frame rates are numbered correctly too. If the seek ever lands past the wanted
frame, or timestamps are missing, it falls back to decoding from the start.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from videoloom.core.errors import MediaError
from videoloom.media._container import AV_ERRORS, open_input, video_stream

__all__ = ["iter_frames", "iter_video_frames"]


def iter_frames(
    path: str | os.PathLike[str], *, start: int = 0, stop: int | None = None
) -> Iterator[np.ndarray]:
    """Yield frames ``[start, stop)`` as RGB ``uint8`` arrays of shape ``(H, W, 3)``.

    ``stop=None`` means to the end; a range past the end just yields fewer frames.
    Argument errors raise ``ValueError`` at once; media errors (``MediaError``)
    surface on the first ``next()``.
    """
    if start < 0:
        raise ValueError(f"start must be >= 0, got {start}")
    if stop is not None and stop < start:
        raise ValueError(f"stop ({stop}) must be >= start ({start})")
    return _iter_frames(os.fspath(path), start, stop, rgb=True)


def iter_video_frames(
    path: str | os.PathLike[str], *, start: int = 0, stop: int | None = None
) -> Iterator[VideoFrame]:
    """Like ``iter_frames``, but the decoded ``VideoFrame`` objects, pixels untouched.

    For callers that can use the decoder's YUV as it is (re-encoding a kept part
    at the same size skips two colour conversions per frame) and convert only
    the frames they need to look at.
    """
    if start < 0:
        raise ValueError(f"start must be >= 0, got {start}")
    if stop is not None and stop < start:
        raise ValueError(f"stop ({stop}) must be >= start ({start})")
    return _iter_frames(os.fspath(path), start, stop, rgb=False)


def _iter_frames(path: str, start: int, stop: int | None, *, rgb: bool) -> Iterator[Any]:
    wanted = None if stop is None else stop - start
    if wanted == 0:
        return
    with open_input(path) as container:
        stream = video_stream(container)
        stream.codec_context.thread_type = "AUTO"
        try:
            frames = _frames_from(container, stream, start) if start else container.decode(stream)
            for count, frame in enumerate(frames):
                if wanted is not None and count >= wanted:
                    break
                yield frame.to_ndarray(format="rgb24") if rgb else frame
        except AV_ERRORS as exc:
            raise MediaError(f"the video cannot be decoded: {exc}") from exc


def _frames_from(container: InputContainer, stream: VideoStream, start: int) -> Iterator[VideoFrame]:
    """Frames from index ``start`` on: seek + decode forward, or a plain skip as the fallback."""
    timestamps = _presentation_timestamps(container, stream)
    if timestamps is not None:
        if start >= len(timestamps):
            return
        target = timestamps[start]
        container.seek(target, stream=stream, backward=True, any_frame=False)
        decoded = container.decode(stream)
        for frame in decoded:
            if frame.pts is None or frame.pts > target:
                break  # landed past the target or lost timestamps: use the fallback
            if frame.pts == target:
                yield frame
                yield from decoded
                return
        # Fall through: nothing yielded yet, so decoding from the start is still exact.
    container.seek(0, backward=True, any_frame=False)  # start of file
    for index, frame in enumerate(container.decode(stream)):
        if index >= start:
            yield frame


def _presentation_timestamps(container: InputContainer, stream: VideoStream) -> list[int] | None:
    """Every frame's pts in presentation order, from packets only; None if some are missing."""
    timestamps: list[int] = []
    for packet in container.demux(stream):
        if packet.size == 0:  # the demuxer's end-of-stream flush packet
            continue
        if packet.pts is None:
            return None
        if not packet.is_discard:
            timestamps.append(packet.pts)
    timestamps.sort()
    return timestamps
