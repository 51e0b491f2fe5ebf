"""``write_thumbnail``: a small JPEG poster frame for listings and ``<video poster>``."""

from __future__ import annotations

import os

import cv2
import numpy as np
from PIL import Image

__all__ = ["Spritesheet", "write_thumbnail"]


def write_thumbnail(frame: np.ndarray, path: str | os.PathLike[str], *, max_width: int = 640) -> None:
    """Save an RGB ``uint8`` frame as a JPEG (quality 85), at most ``max_width`` wide."""
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 frame, got {frame.dtype} {frame.shape}")
    if max_width <= 0:
        raise ValueError(f"max_width must be positive, got {max_width}")
    height, width = frame.shape[:2]
    if width > max_width:
        new_height = max(1, round(height * max_width / width))
        frame = cv2.resize(frame, (max_width, new_height), interpolation=cv2.INTER_AREA)
    Image.fromarray(np.ascontiguousarray(frame)).save(os.fspath(path), format="JPEG", quality=85)


class Spritesheet:
    """A grid of small frames sampled across a video (the OpenAI ``spritesheet`` variant).

    Frames are offered one at a time while a video streams past; only every
    ``stride``-th one is kept, already shrunk, so memory stays small.
    """

    def __init__(
        self, expected_frames: int, *, tiles: int = 25, columns: int = 5, tile_width: int = 160
    ) -> None:
        if expected_frames < 1 or tiles < 1 or columns < 1 or tile_width < 2:
            raise ValueError("expected_frames, tiles, columns and tile_width must be positive")
        self._stride = max(1, -(-expected_frames // tiles))
        self._tiles = tiles
        self._columns = columns
        self._tile_width = tile_width
        self._kept: list[np.ndarray] = []

    def wants(self, index: int) -> bool:
        """Whether ``offer(index, …)`` would keep the frame (so callers can skip converting others)."""
        return index % self._stride == 0

    def offer(self, index: int, frame: np.ndarray) -> None:
        if not self.wants(index):
            return
        height, width = frame.shape[:2]
        tile_height = max(2, round(height * self._tile_width / width))
        self._kept.append(cv2.resize(frame, (self._tile_width, tile_height), interpolation=cv2.INTER_AREA))

    def write(self, path: str | os.PathLike[str]) -> None:
        if not self._kept:
            raise ValueError("no frames were offered")
        picks = np.linspace(0, len(self._kept) - 1, min(self._tiles, len(self._kept))).round().astype(int)
        tiles = [self._kept[i] for i in picks]
        columns = min(self._columns, len(tiles))
        rows = -(-len(tiles) // columns)
        tile_h, tile_w = tiles[0].shape[:2]
        sheet = np.zeros((rows * tile_h, columns * tile_w, 3), dtype=np.uint8)
        for n, tile in enumerate(tiles):
            r, c = divmod(n, columns)
            sheet[r * tile_h : (r + 1) * tile_h, c * tile_w : (c + 1) * tile_w] = tile[:tile_h, :tile_w]
        Image.fromarray(sheet).save(os.fspath(path), format="JPEG", quality=85)
