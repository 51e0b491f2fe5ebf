"""Camera directions read from a prompt by plain keyword matching, and the eased camera path.

This is deliberately simple: case-insensitive regular expressions over the
prompt text, no language model. The vocabulary (whole words, ``-`` or spaces
between them, verb forms such as "zooms"/"zooming" also match):

============================================  =========================================
phrase                                        effect
============================================  =========================================
"zoom in", "zoom into", "push in",            camera moves in: the picture grows about
"dolly in", "closer"                          its centre (8 % per second)
"zoom out", "pull back", "pull out",          camera moves out: the picture shrinks
"dolly out"                                   (8 % per second)
"pan left" / "pan right"                      camera turns left / right: the picture
                                              slides right / left (8 % of the width
                                              per second)
"tilt up" / "tilt down"                       camera tilts up / down: the picture
                                              slides down / up (8 % of the height
                                              per second)
"slowly", "gently", "slight", "slightly",     halves the camera rates above
"subtle"
"fast", "quickly", "rapid", "rapidly",        doubles the camera rates above
"dramatic"
"slow down", "slow motion", "slow-mo"         existing motion dies out faster (flow
                                              damping at most 0.85 per frame), camera
                                              rates and procedural animation halved
"freeze", "freeze frame"                      existing motion stops within a few frames
                                              (damping at most 0.5), procedural
                                              animation stops, no default push-in
"fade out", "fade to black",                  the segment ends in black
"fade into black"
"fade to white"                               the segment ends in white
"fade in", "fade from black"                  generate only: the segment starts from
                                              black
============================================  =========================================

Fades to black or white take the last half of the segment (at least 1 s,
at most 3 s, never more than the segment) and reach the colour on its last
frame; a fade in takes the first second.

When opposite moves on one axis are both named ("zoom in ... then zoom out"),
the one mentioned last wins. Negation ("don't zoom") is not understood.

Camera rates do not start at full speed: each rate eases in over the first
half second (smoothstep), so the first new frame of a continuation is almost
exactly the last real frame.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["CameraPath", "Directions", "parse_directions", "smoothstep"]

ZOOM_RATE = 0.08
"""Zoom speed, natural log of the scale per second (≈ 8 %/s)."""
PAN_RATE = 0.08
"""Pan speed, fraction of the frame width per second."""
TILT_RATE = 0.08
"""Tilt speed, fraction of the frame height per second."""
DEFAULT_PUSH_IN = 0.015
"""Zoom rate of the default gentle push-in (≈ 1.5 %/s) used when nothing else moves."""
EASE_SECONDS = 0.5
"""Camera rates ramp from 0 to full over this long."""
SLOW_DAMPING = 0.85
FREEZE_DAMPING = 0.5

_W = r"[\s-]+"  # words may be separated by spaces or hyphens

_ZOOM_IN = re.compile(
    rf"\b(?:zoom(?:s|ed|ing)?{_W}in(?:to)?|push(?:es|ed|ing)?{_W}in(?:to)?"
    rf"|dolly(?:ing)?{_W}in|closer)\b"
)
_ZOOM_OUT = re.compile(
    rf"\b(?:zoom(?:s|ed|ing)?{_W}out|pull(?:s|ed|ing)?{_W}(?:back|out)|dolly(?:ing)?{_W}out)\b"
)
_PAN = re.compile(rf"\bpan(?:s|ned|ning)?{_W}(?:to{_W}(?:the{_W})?)?(left|right)\b")
_TILT = re.compile(rf"\btilt(?:s|ed|ing)?{_W}(up|down)\b")
_GENTLE = re.compile(r"\b(?:slowly|gently|gentle|slight|slightly|subtle|subtly)\b")
_FAST = re.compile(r"\b(?:fast|quickly|quick|rapid|rapidly|dramatic|dramatically)\b")
_SLOW = re.compile(rf"\b(?:slow(?:s|ed|ing)?{_W}down|slow(?:{_W})?(?:motion|mo))\b")
_FREEZE = re.compile(rf"\bfreeze(?:s|{_W}frame)?\b")
_FADE = r"\bfad(?:e|es|ed|ing)"
_FADE_TO = re.compile(rf"{_FADE}(?:{_W}out)?{_W}(?:in)?to{_W}(black|white)\b")
_FADE_OUT = re.compile(rf"{_FADE}{_W}out\b")
_FADE_IN = re.compile(rf"{_FADE}{_W}(?:in|from{_W}black)\b")


def smoothstep(x: float) -> float:
    """0 below 0, 1 above 1, ``3x² - 2x³`` between: a ramp with zero slope at both ends."""
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


def _eased_time(t: float, ease: float) -> float:
    """∫₀ᵗ smoothstep(τ/ease) dτ: how far a unit-rate move has gone after ``t`` seconds."""
    if t <= 0.0:
        return 0.0
    if ease <= 0.0:
        return t
    if t >= ease:
        return ease / 2.0 + (t - ease)
    u = t / ease
    return ease * (u**3 - u**4 / 2.0)


@dataclass(frozen=True)
class CameraPath:
    """A camera move: constant rates reached after an ease-in.

    ``view(t)`` gives ``(scale, vx, vy)``: the picture is magnified ``scale``
    times about the frame centre and the view centre is displaced by ``vx``
    frame widths and ``vy`` frame heights (positive: right / down) — i.e. the
    output pixel ``p`` shows the source point ``c + (p - c) / scale + (vx·W, vy·H)``.
    """

    zoom_rate: float = 0.0
    """ln(scale) per second; positive zooms in."""
    pan_rate: float = 0.0
    """View centre speed in frame widths per second; positive moves the camera right."""
    tilt_rate: float = 0.0
    """View centre speed in frame heights per second; positive tilts the camera up."""
    ease: float = EASE_SECONDS

    @property
    def moves(self) -> bool:
        return bool(self.zoom_rate or self.pan_rate or self.tilt_rate)

    def view(self, t: float) -> tuple[float, float, float]:
        e = _eased_time(t, self.ease)
        return math.exp(self.zoom_rate * e), self.pan_rate * e, -self.tilt_rate * e


@dataclass(frozen=True)
class Directions:
    """What a prompt asks of the camera and the timing."""

    zoom: int = 0
    """+1 zoom in, -1 zoom out, 0 none."""
    pan: int = 0
    """+1 pan right, -1 pan left, 0 none."""
    tilt: int = 0
    """+1 tilt up, -1 tilt down, 0 none."""
    speed: float = 1.0
    """Multiplier of the camera rates ("slowly" 0.5, "fast" 2)."""
    slow: bool = False
    freeze: bool = False
    fade_out: Literal["black", "white"] | None = None
    fade_in: bool = False

    @property
    def camera_moves(self) -> bool:
        return bool(self.zoom or self.pan or self.tilt)

    @property
    def animation_speed(self) -> float:
        """How fast procedural content moves: 1 normally, 0.5 for slow motion, 0 for freeze."""
        if self.freeze:
            return 0.0
        return 0.5 if self.slow else 1.0

    def damping(self, default: float) -> float:
        """Per-frame damping of the extrapolated optical flow."""
        if self.freeze:
            return min(default, FREEZE_DAMPING)
        if self.slow:
            return min(default, SLOW_DAMPING)
        return default

    def camera(self, *, default_push_in: bool = False) -> CameraPath:
        """The camera path; ``default_push_in`` adds the gentle push-in when nothing is asked."""
        rate = self.speed * (0.5 if self.slow else 1.0)
        if not self.camera_moves:
            if default_push_in and not self.freeze:
                return CameraPath(zoom_rate=DEFAULT_PUSH_IN * rate)
            return CameraPath()
        return CameraPath(
            zoom_rate=self.zoom * ZOOM_RATE * rate,
            pan_rate=self.pan * PAN_RATE * rate,
            tilt_rate=self.tilt * TILT_RATE * rate,
        )


def _last(text: str, positive: re.Pattern[str], negative: re.Pattern[str]) -> int:
    """+1 / -1 for whichever pattern matches last in ``text``, 0 if neither does."""
    pos = max((m.start() for m in positive.finditer(text)), default=-1)
    neg = max((m.start() for m in negative.finditer(text)), default=-1)
    if pos == neg == -1:
        return 0
    return 1 if pos > neg else -1


def _last_word(text: str, pattern: re.Pattern[str], plus: str) -> int:
    """+1 / -1 for the direction word of the last ``pattern`` match (``plus`` is +1), else 0."""
    matches = list(pattern.finditer(text))
    if not matches:
        return 0
    return 1 if matches[-1].group(1) == plus else -1


def parse_directions(prompt: str) -> Directions:
    """Read the camera vocabulary (see the module docstring) out of ``prompt``."""
    text = prompt.lower()
    speed = 1.0
    if _GENTLE.search(text):
        speed *= 0.5
    if _FAST.search(text):
        speed *= 2.0
    fade_out: Literal["black", "white"] | None = None
    fades = list(_FADE_TO.finditer(text))
    if fades:
        fade_out = "white" if fades[-1].group(1) == "white" else "black"
    elif _FADE_OUT.search(text):
        fade_out = "black"
    return Directions(
        zoom=_last(text, _ZOOM_IN, _ZOOM_OUT),
        pan=_last_word(text, _PAN, "right"),
        tilt=_last_word(text, _TILT, "up"),
        speed=speed,
        slow=bool(_SLOW.search(text)),
        freeze=bool(_FREEZE.search(text)),
        fade_out=fade_out,
        fade_in=bool(_FADE_IN.search(text)),
    )
