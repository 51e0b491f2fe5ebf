"""``write_thumbnail``: a small JPEG poster frame for listings and ``<video poster>``."""

from __future__ import annotations

import os

import cv2
import numpy as np
from PIL import Image

__all__ = ["write_thumbnail"]


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
