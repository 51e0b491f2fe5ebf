"""``VideoWriter``: RGB frames in, browser-playable H.264 MP4 out.

libx264 (codec name ``h264``), yuv420p, BT.709 limited range (converted and
tagged explicitly, so players and our own decoder agree on the colours), MP4
with ``+faststart`` so playback can start before the whole file has arrived.
Frame ``i`` gets pts ``i`` in a ``1/fps`` time base: frames must not carry a
decoder's time base into the encoder (it makes 0.04 s files at thousands of fps).
"""

from __future__ import annotations

import os
from fractions import Fraction
from types import TracebackType

import av
import numpy as np
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc, VideoReformatter

from videoloom.core.errors import MediaError
from videoloom.media._container import AV_ERRORS, as_rate

__all__ = ["VideoWriter"]

# AVCOL_* values for the stream header (BT.709 = 1, MPEG/limited range = 1).
_BT709 = 1
_LIMITED_RANGE = 1


class VideoWriter:
    """Encode RGB ``uint8`` frames of one size into an H.264 MP4; use as a context manager.

    ``gop_size`` (keyframe interval, frames) is optional; libx264's default is 250.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        width: int,
        height: int,
        fps: Fraction,
        preset: str = "veryfast",
        crf: int = 20,
        gop_size: int | None = None,
    ) -> None:
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ValueError(f"width and height must be positive and even, got {width}x{height}")
        self.path = os.fspath(path)
        self.width = width
        self.height = height
        self.fps = as_rate(fps)
        self.frames_written = 0
        self._time_base = 1 / self.fps
        self._reformatter = VideoReformatter()
        options = {"crf": str(crf), "preset": preset}
        if gop_size is not None:
            options["g"] = str(gop_size)
        try:
            self._container = av.open(self.path, mode="w", format="mp4", options={"movflags": "+faststart"})
        except AV_ERRORS as exc:
            raise MediaError(f"cannot create {self.path!r}: {exc}") from exc
        try:
            stream = self._container.add_stream("h264", rate=self.fps, options=options)
            stream.width = width
            stream.height = height
            stream.pix_fmt = "yuv420p"
            stream.time_base = self._time_base
            ctx = stream.codec_context
            ctx.time_base = self._time_base
            ctx.thread_type = "AUTO"
            ctx.thread_count = 0
            ctx.colorspace = _BT709
            ctx.color_primaries = _BT709
            ctx.color_trc = _BT709
            ctx.color_range = _LIMITED_RANGE
        except AV_ERRORS as exc:
            self._container.close()
            raise MediaError(f"cannot set up the H.264 encoder: {exc}") from exc
        self._stream = stream
        self._closed = False

    def write(self, frame: np.ndarray) -> None:
        """Encode one RGB ``uint8`` frame of shape ``(height, width, 3)``."""
        if self._closed:
            raise ValueError("write() on a closed VideoWriter")
        expected = (self.height, self.width, 3)
        if not isinstance(frame, np.ndarray) or frame.shape != expected:
            got = getattr(frame, "shape", type(frame).__name__)
            raise ValueError(f"frame must have shape {expected}, got {got}")
        if frame.dtype != np.uint8:
            raise ValueError(f"frame must be uint8, got {frame.dtype}")
        rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        yuv = self._reformatter.reformat(
            rgb,
            format="yuv420p",
            src_colorspace=Colorspace.ITU709,
            dst_colorspace=Colorspace.ITU709,
            src_color_range=ColorRange.JPEG,
            dst_color_range=ColorRange.MPEG,
        )
        yuv.color_primaries = ColorPrimaries.BT709
        yuv.color_trc = ColorTrc.BT709
        yuv.pts = self.frames_written
        yuv.time_base = self._time_base
        try:
            for packet in self._stream.encode(yuv):
                self._container.mux(packet)
        except AV_ERRORS as exc:
            raise MediaError(f"H.264 encoding failed: {exc}") from exc
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and finish the file; calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        except AV_ERRORS as exc:
            raise MediaError(f"H.264 encoding failed: {exc}") from exc
        finally:
            self._container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
