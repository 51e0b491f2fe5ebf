"""Output sizes: ``720P``/``1080P`` name the short side; the aspect ratio gives the long side."""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

from videoloom.core.errors import InvalidRequest

__all__ = [
    "ASPECT_RATIOS",
    "SIZES",
    "Resolution",
    "aspect_of",
    "output_size",
    "parse_aspect_ratio",
    "parse_size",
]

Resolution = Literal["720P", "1080P"]
SIZES: dict[str, int] = {"720P": 720, "1080P": 1080}
ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3")


def parse_size(value: str, *, param: str = "size") -> Resolution:
    normalized = value.strip().upper()
    if normalized not in SIZES:
        raise InvalidRequest(f"size must be 720P or 1080P, got {value!r}", param=param)
    return normalized  # type: ignore[return-value]


def parse_aspect_ratio(value: str, *, param: str = "aspect_ratio") -> Fraction:
    if value.strip() not in ASPECT_RATIOS:
        raise InvalidRequest(
            f"aspect_ratio must be one of {', '.join(ASPECT_RATIOS)}, got {value!r}", param=param
        )
    w, h = value.strip().split(":")
    return Fraction(int(w), int(h))


def aspect_of(width: int, height: int) -> Fraction:
    return Fraction(width, height)


def _even(x: float | Fraction) -> int:
    return max(2, round(x / 2) * 2)


def output_size(short_side: int, aspect: Fraction) -> tuple[int, int]:
    """(width, height) with the short side fixed and both even: 720 at 16:9 → 1280×720."""
    if aspect >= 1:
        return _even(short_side * aspect), _even(short_side)
    return _even(short_side), _even(short_side / aspect)
