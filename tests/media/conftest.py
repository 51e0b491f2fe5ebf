"""Helpers for the media tests: synthetic clips made with PyAV at test time (no binary fixtures).

The helper functions are handed to tests as fixtures (``psnr``, ``make_frame``, …)
rather than imported, so this file never has to be importable as a module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from videoloom.media import VideoWriter

FPS = Fraction(24)
WIDTH, HEIGHT, FRAMES = 320, 180, 72
BITS = 8  # frame numbers are drawn as 8 black/white blocks along the top
BLOCK = 16


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 images (inf when identical)."""
    assert a.shape == b.shape, (a.shape, b.shape)
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _make_frame(index: int, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """A gradient with a square moving across it and ``index`` drawn in binary along the top."""
    yy, xx = np.mgrid[0:height, 0:width]
    frame = np.stack(
        [xx * 255 // max(width - 1, 1), yy * 255 // max(height - 1, 1), np.full_like(xx, 96)],
        axis=-1,
    ).astype(np.uint8)
    side = max(4, height // 4)
    x = (index * 4) % max(1, width - side)
    y = height // 2 - side // 2
    frame[y : y + side, x : x + side] = (240, 240, 32)
    if width >= BITS * BLOCK and height >= 2 * BLOCK:
        for bit in range(BITS):
            value = 255 if index >> bit & 1 else 0
            frame[0:BLOCK, bit * BLOCK : (bit + 1) * BLOCK] = value
    return frame


def _read_index(frame: np.ndarray) -> int:
    """The frame number drawn by ``make_frame``."""
    return sum(
        1 << bit
        for bit in range(BITS)
        if frame[4 : BLOCK - 4, bit * BLOCK + 4 : (bit + 1) * BLOCK - 4].mean() > 128
    )


def _write_clip(
    path: Path,
    count: int,
    *,
    width: int = WIDTH,
    height: int = HEIGHT,
    fps: Fraction = FPS,
    gop_size: int | None = None,
) -> list[np.ndarray]:
    """Encode ``count`` synthetic frames with ``VideoWriter``; returns the frames written."""
    frames = [_make_frame(i, width, height) for i in range(count)]
    with VideoWriter(path, width=width, height=height, fps=fps, gop_size=gop_size) as writer:
        for frame in frames:
            writer.write(frame)
    return frames


def _encode_raw(
    path: Path,
    frames: Sequence[np.ndarray],
    *,
    codec: str,
    container_format: str,
    pix_fmt: str = "yuv420p",
    fps: Fraction = FPS,
    options: dict[str, str] | None = None,
    timestamps: Sequence[int] | None = None,
) -> None:
    """Encode frames with any PyAV codec/container, standing in for a user's upload.

    ``timestamps`` (pts in units of ``1/fps``) makes a variable-frame-rate clip.
    """
    height, width = frames[0].shape[:2]
    with av.open(str(path), mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=fps, options=options or {})
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        for i, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts = i if timestamps is None else timestamps[i]
            frame.time_base = 1 / fps
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def _keyframe_indices(path: Path) -> list[int]:
    """Presentation-order indices of the keyframes, read from packets."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [(p.pts, p.is_keyframe) for p in container.demux(stream) if p.size]
    order = sorted(pts for pts, _ in packets)
    return sorted(order.index(pts) for pts, key in packets if key)


@dataclass(frozen=True)
class Clip:
    """A clip written by ``VideoWriter`` and the exact frames that went into it."""

    path: Path
    frames: list[np.ndarray]
    fps: Fraction

    @property
    def width(self) -> int:
        return self.frames[0].shape[1]

    @property
    def height(self) -> int:
        return self.frames[0].shape[0]


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    """320×180, 24 fps, 3 s; keyframe every 12 frames, so mid-GOP seeks are exercised."""
    path = tmp_path_factory.mktemp("media") / "clip.mp4"
    return Clip(path, _write_clip(path, FRAMES, gop_size=12), FPS)


@pytest.fixture(scope="session")
def long_gop_clip(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    """Same content with libx264's default GOP (250): one keyframe, B-frames throughout."""
    path = tmp_path_factory.mktemp("media") / "long_gop.mp4"
    return Clip(path, _write_clip(path, FRAMES), FPS)


@pytest.fixture(scope="session")
def psnr() -> Callable[[np.ndarray, np.ndarray], float]:
    return _psnr


@pytest.fixture(scope="session")
def make_frame() -> Callable[..., np.ndarray]:
    return _make_frame


@pytest.fixture(scope="session")
def read_index() -> Callable[[np.ndarray], int]:
    return _read_index


@pytest.fixture(scope="session")
def write_clip() -> Callable[..., list[np.ndarray]]:
    return _write_clip


@pytest.fixture(scope="session")
def encode_raw() -> Callable[..., None]:
    return _encode_raw


@pytest.fixture(scope="session")
def keyframe_indices() -> Callable[[Path], list[int]]:
    return _keyframe_indices
