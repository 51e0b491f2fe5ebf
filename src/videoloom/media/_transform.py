"""``fit_frame``: make any frame exactly the output size without distorting it.

Centre-crop to the target aspect ratio, then resize: ``INTER_AREA`` when
shrinking (no aliasing), ``INTER_LANCZOS4`` when enlarging (sharpest of
OpenCV's interpolators).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["centre_crop_box", "fit_frame"]


def centre_crop_box(src_width: int, src_height: int, width: int, height: int) -> tuple[int, int, int, int]:
    """The largest centred ``(x, y, w, h)`` box of the source with the target aspect ratio."""
    if min(src_width, src_height, width, height) <= 0:
        raise ValueError("sizes must be positive")
    if src_width * height > width * src_height:  # source is wider: trim the sides
        crop_w = max(1, min(src_width, round(src_height * width / height)))
        return (src_width - crop_w) // 2, 0, crop_w, src_height
    crop_h = max(1, min(src_height, round(src_width * height / width)))
    return 0, (src_height - crop_h) // 2, src_width, crop_h


def fit_frame(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Centre-crop ``frame`` to ``width:height`` and resize to shape ``(height, width, C)``.

    Returns ``frame`` itself when it already has that size.
    """
    if frame.ndim < 2:
        raise ValueError(f"expected an image array, got shape {frame.shape}")
    src_h, src_w = frame.shape[:2]
    if (src_w, src_h) == (width, height):
        return frame
    x, y, crop_w, crop_h = centre_crop_box(src_w, src_h, width, height)
    cropped = frame[y : y + crop_h, x : x + crop_w]
    if (crop_w, crop_h) == (width, height):
        return np.ascontiguousarray(cropped)
    shrinking = crop_w >= width and crop_h >= height
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LANCZOS4
    return cv2.resize(cropped, (width, height), interpolation=interpolation)
