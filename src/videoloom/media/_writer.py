"""``VideoWriter``: RGB frames in, browser-playable H.264 MP4 out.

libx264 (codec name ``h264``), yuv420p, BT.709 limited range (converted and
tagged explicitly, so players and our own decoder agree on the colours), MP4
with ``+faststart`` so playback can start before the whole file has arrived.
Frame ``i`` gets pts ``i`` in a ``1/fps`` time base: frames must not carry a
decoder's time base into the encoder (it makes 0.04 s files at thousands of fps).

RGB frames are converted by ``media._colour.rgb_to_yuv420p`` (OpenCV, ~5× faster
than swscale here); frames that already are yuv420p (a decoded source, the
enhancer's output) go in as they are with ``write_frame``.
"""

from __future__ import annotations

import os
from fractions import Fraction
from types import TracebackType

import av
import numpy as np
from av.video.frame import PictureType

from videoloom.core.errors import MediaError
from videoloom.media._colour import BT709, ColourTags, Matrix, rgb_to_yuv420p
from videoloom.media._container import AV_ERRORS, as_rate

__all__ = ["VideoWriter"]


class VideoWriter:
    """Encode RGB ``uint8`` frames of one size into an H.264 MP4; use as a context manager.

    ``gop_size`` (keyframe interval, frames) is optional; libx264's default is 250.
    ``colour`` is the stream's colour description, BT.709 unless a caller keeps
    a source's (an extend passing decoded frames through); RGB frames are
    converted with its matrix.
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
        colour: ColourTags = BT709,
    ) -> None:
        matrix = colour.matrix
        if matrix is None:
            raise ValueError(f"no RGB conversion for colour {colour}")
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ValueError(f"width and height must be positive and even, got {width}x{height}")
        self.path = os.fspath(path)
        self.width = width
        self.height = height
        self.fps = as_rate(fps)
        self.colour = colour
        self._matrix: Matrix = matrix
        self.frames_written = 0
        self._time_base = 1 / self.fps
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
            ctx.colorspace = colour.colorspace
            ctx.color_primaries = colour.primaries
            ctx.color_trc = colour.trc
            ctx.color_range = colour.range
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
        self._encode(rgb_to_yuv420p(frame, matrix=self._matrix))

    def write_frame(self, frame: av.VideoFrame) -> None:
        """Encode a yuv420p (limited range, in ``colour``) ``VideoFrame`` of the output size as it is.

        Its pts, time base and picture type are overwritten (a decoder's would
        otherwise leak into the encoder, see above).
        """
        if self._closed:
            raise ValueError("write_frame() on a closed VideoWriter")
        if frame.format.name != "yuv420p" or (frame.width, frame.height) != (self.width, self.height):
            raise ValueError(
                f"frame must be yuv420p {self.width}x{self.height}, "
                f"got {frame.format.name} {frame.width}x{frame.height}"
            )
        self._encode(frame)

    def _encode(self, yuv: av.VideoFrame) -> None:
        yuv.pts = self.frames_written
        yuv.time_base = self._time_base
        yuv.pict_type = PictureType.NONE  # a decoder's I/P/B must not force keyframes
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
