"""Edits of a finished video read from a prompt, and the classical operations that do them.

This is what the ``motion`` engine can honestly do for ``POST /v1/videos/edits``:
colour grades, retiming, reversal, crops and flips, stabilisation and fades,
with OpenCV and numpy only. Nothing is invented: a prompt that asks for
anything else ("make it a cat") gives no operations, and the engine refuses
the edit (``EngineError`` with code ``edit_not_understood``) rather than hand
the video back unchanged.

The prompt is read like the camera words of :mod:`videoloom.engines._prompt`:
case-insensitive regular expressions, whole words, spaces or ``-`` between
words, common verb forms ("stabilised", "flipped", "zooming") included. The
vocabulary:

============================================  =========================  =====================================
phrase                                        operation name             effect
============================================  =========================  =====================================
"stabilize", "stabilise", "steady",           ``stabilize``              camera shake removed (see below)
"steadier", "remove/reduce/fix (the)
(camera) shake", "less shaky", "deshake"
"reverse", "backwards", "rewind", "play in    ``reverse``                plays from the last frame to the
reverse"                                                                 first
"2x faster", "N times faster", "Nx speed",    ``speed:N``                output frame j is source frame ⌊j·N⌋
"at Nx", "by Nx" (N > 1)                                                 (N need not be whole); N times
                                                                         shorter; N ≤ 8
"faster", "speed up", "twice as fast",        ``speed:2.0``              as above, N = 2: frames 0, 2, 4, …
"double speed", "timelapse", "fast forward"
"slow motion", "slow-mo", "slow down",        ``speed:0.5``              each frame, then a 50/50 blend with
"slower", "half speed", "half as fast",                                  the next (the last one repeated);
"0.5x"                                                                   twice as long
"Nx slower", "0.Nx" (N < 2 / 0.N > 0.5)       ``speed:<1/N>``            blends likewise; never below 0.5
                                                                         (output ≤ 2 × the source frames)
"zoom in", "crop in", "punch in", "tighter"   ``zoom:1.25``              centre crop to 1/1.25 of each side,
                                                                         scaled back up to the frame size
"mirror", "flip horizontally", "horizontal    ``mirror``                 left and right swapped
flip"
"flip vertically", "vertical flip", "upside   ``flip_vertical``          top and bottom swapped
down"
"brighter", "brighten", "lighten"             ``grade:brighter``         mid-tones lifted (gamma 1/1.35);
                                                                         black and white points kept
"darker", "darken", "dimmer"                  ``grade:darker``           mid-tones lowered (gamma 1.35)
"more contrast", "high contrast", "increase   ``grade:more_contrast``    S-curve (slope 1.3 at mid-grey)
(the) contrast", "punchy", "contrasty"
"less contrast", "low contrast", "flat",      ``grade:less_contrast``    tones squeezed into 15–85 % (a
"faded", "washed out"                                                    lifted, faded look)
"saturated", "saturate", "vivid", "vibrant",  ``grade:saturate``         colour pushed away from grey
"more colour", "colourful"                                               (saturation × 1.3)
"desaturate", "muted", "less saturated",      ``grade:desaturate``       colour pulled towards grey
"less colour"                                                            (saturation × 0.5)
"black and white", "black & white", "b&w",    ``grade:monochrome``       grey (Rec. 601 luma): R = G = B
"monochrome", "grayscale", "greyscale"
"sepia", "vintage"                            ``grade:sepia``            luma tinted brown
"warm", "warmer", "warmth", "golden"          ``grade:warm``             red curve lifted (γ 0.88), blue
                                                                         lowered (γ 1.15); black and white
                                                                         kept
"cool", "cooler", "cold", "blue tint"         ``grade:cool``             the opposite (red γ 1.12, blue γ
                                                                         0.88)
"fade in", "fade from black"                  ``fade_in``                rises from black over the first
                                                                         second
"fade out", "fade to black", "fade into       ``fade_out:black``         sinks to black over the last second
black"
"fade to white"                               ``fade_out:white``         turns white over the last second
============================================  =========================  =====================================

Where a prompt names both sides of one choice (warm and cool, brighter and
darker, more and less contrast or colour, monochrome and sepia, faster and
slower) the one mentioned last wins. Negation ("don't flip") is not
understood, and neither is anything not in the table ("zoom out", "remove the
car", "make it a cat"). Speed factors are clamped to 0.5…8 and named with at
most three decimals (``speed:3.0``, ``speed:0.667``). Fades last one second
(at most half the output when both are asked for).

**Order.** Whatever the order of the words, the operations run in this
fixed order, which is also the order of :attr:`EditPlan.operations`:

1. ``stabilize`` — on the source frames;
2. ``reverse``, then ``speed`` — so "reverse, 2x faster" plays backwards at
   double speed from the last source frame; the output frame count is
   ``ceil(frame_count / N)`` (:meth:`EditPlan.output_frames`);
3. ``zoom``, ``mirror``, ``flip_vertical``;
4. the grades, in the table's order: brightness, contrast, saturation,
   monochrome/sepia, warm/cool (so "black and white, warmer" is a warm-toned
   monochrome);
5. ``fade_in``, ``fade_out`` — on the output frames.

**Stabilise** reads the video twice. The first pass measures the global
motion between consecutive frames on a grey copy whose short side is at most
360 px: corners (``goodFeaturesToTrack``) tracked with pyramidal Lucas–Kanade
(kept only when the backward track returns within half a pixel), then a
RANSAC similarity fit (``estimateAffinePartial2D``: shift, rotation, scale);
with too few reliable tracks (flat pictures) it falls back to phase
correlation (shift only). A step bigger than a quarter of the short side, a
quarter radian or 25 % scale counts as a cut, not shake, and is ignored. The
steps add up to the camera path, which is smoothed by a moving average over
one second (near the ends: the least-squares line through the frames within
half a second, so a steady pan is kept); the second pass moves each frame by "smoothed minus
measured" and zooms in about the centre just enough for the corrected frames
to cover the picture — the same zoom for the whole video, at most
``STABILIZE_MAX_ZOOM`` (12 %); beyond that, borders are filled by reflection.

**Reverse** must hold the whole (stabilised) source in memory; it refuses
(``EngineError``, code ``edit_too_long``) a video of more than
``REVERSE_MAX_BYTES`` (1 GiB) of decoded frames — about 388 frames (16 s at
24 fps) of 1280×720, or 172 frames of 1920×1080. Every other operation streams
with at most two source frames held.

Everything is deterministic: no random numbers (RANSAC in OpenCV reseeds its
own generator on every call).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np

from videoloom.core.errors import EngineError
from videoloom.engines._prompt import parse_directions, smoothstep

if TYPE_CHECKING:
    from videoloom.engines.base import EditJob, ProgressCallback

__all__ = [
    "REVERSE_MAX_BYTES",
    "STABILIZE_MAX_ZOOM",
    "UNDERSTOOD",
    "EditPlan",
    "check_edit",
    "parse_edits",
    "render_edit",
]

ZOOM_IN = 1.25
"""Magnification of "zoom in"."""
FASTEST = 8.0
SLOWEST = 0.5
"""Speed factors are clamped to [SLOWEST, FASTEST]: an edit never makes more than 2× the frames."""
REVERSE_MAX_BYTES = 1 << 30
"""Most decoded source bytes (frames × width × height × 3) a reverse may hold in memory."""
STABILIZE_MAX_ZOOM = 1.12
"""Largest crop-zoom stabilisation applies to hide the borders its corrections uncover."""
STABILIZE_SMOOTH_SECONDS = 1.0
"""Width of the moving average that smooths the camera path."""
ANALYSIS_SIDE = 360
"""Stabilisation measures motion on a grey copy with at most this short side."""
FADE_SECONDS = 1.0
BRIGHT_GAMMA = 1.35
CONTRAST_CURVE = 0.6
""""More contrast" blends this much of a smoothstep S-curve into the identity (slope 1.3 at mid-grey)."""
FLAT_RANGE = (0.15, 0.85)
""""Less contrast" maps black…white to these levels."""
SATURATE = 1.3
DESATURATE = 0.5
LUMA = np.array([0.299, 0.587, 0.114])
"""Rec. 601 luma weights (as ``cv2.COLOR_RGB2GRAY``)."""
SEPIA_TINT = np.array([1.07, 0.93, 0.72])
WARM_GAMMAS = (0.88, 0.97, 1.15)
COOL_GAMMAS = (1.12, 1.0, 0.88)
READ_SHARE = 0.25
"""Share of the progress bar given to each extra reading pass (stabilise analysis, reverse buffering)."""

UNDERSTOOD = (
    "stabilize/steady/remove shake; reverse/backwards/rewind; 2x faster/speed up/timelapse; "
    "slow motion/slow down/half speed/0.5x; zoom in/crop in/tighter; mirror/flip horizontally; "
    "flip vertically/upside down; brighter/darker; more/less contrast (punchy, flat, faded); "
    "saturated/vivid/more colour; desaturate/muted; black and white/monochrome/grayscale; "
    "sepia/vintage; warm(er)/golden; cool(er)/cold/blue tint; fade in; fade out/fade to black/white"
)
"""The vocabulary in one line, for error messages."""

# -- the vocabulary ---------------------------------------------------------------------------

_W = r"[\s-]+"  # words may be separated by spaces or hyphens
_NUM = r"(?<![\w.])(?:\d+(?:\.\d+)?|\.\d+)"
_X = r"\s*(?:x|×|times)"

_STABILIZE = re.compile(
    rf"\b(?:stabili[sz](?:e|es|ed|ing|ation)|steady|steadier|steadied|de(?:{_W})?shake[sd]?"
    rf"|(?:remove[sd]?|removing|reduce[sd]?|reducing|fix|fixe[sd]|less|no|without|get{_W}rid{_W}of)"
    rf"{_W}(?:the{_W})?(?:camera{_W})?(?:shake|shaking|shakiness|jitter|wobble)|less{_W}shaky)\b"
)
_REVERSE = re.compile(
    rf"\b(?:revers(?:e|ed|es|ing)|backwards?|rewind(?:s|ing)?|rewound|play(?:s|ed)?{_W}in{_W}reverse)\b"
)
_SPEED = re.compile(
    rf"(?P<fast_n>{_NUM}){_X}{_W}(?:faster|quicker|as{_W}fast|(?:the{_W})?speed)\b"
    rf"|(?P<slow_n>{_NUM}){_X}{_W}slower\b"
    rf"|\b(?:at|by){_W}(?P<rate_at>{_NUM})\s*(?:x|×)(?!\w)"
    rf"|(?P<rate_speed>{_NUM})\s*(?:x|×){_W}(?:speed|playback)\b"
    rf"|(?<![\w.])(?P<rate_low>0?\.\d+)\s*(?:x|×)(?!\w)"
    rf"|\b(?P<slow>slow(?:s|ed|ing)?{_W}(?:it{_W})?down|slow[\s-]*(?:motion|mo)|slower"
    rf"|half{_W}(?:the{_W})?speed|half{_W}as{_W}fast)\b"
    rf"|\b(?P<fast>(?:twice|double){_W}(?:as{_W}fast|(?:the{_W})?speed)"
    rf"|speed(?:s|ed|ing)?{_W}(?:it{_W})?up|sped{_W}up|faster|time[\s-]*lapse|fast{_W}forward(?:ed)?)\b"
)
_ZOOM = re.compile(
    rf"\b(?:zoom(?:s|ed|ing)?{_W}in(?:to)?|crop(?:s|ped|ping)?{_W}in|punch(?:es|ed|ing)?{_W}in|tighter)\b"
)
_FLIP = r"\bflip(?:s|ped|ping)?\W+(?:\w+\W+){0,3}?"
_MIRROR = re.compile(
    rf"\bmirror(?:s|ed|ing)?\b|{_FLIP}horizontal(?:ly)?\b|\bhorizontal(?:ly)?{_W}flip(?:s|ped)?\b"
)
_FLIP_VERTICAL = re.compile(
    rf"{_FLIP}vertical(?:ly)?\b|\bvertical(?:ly)?{_W}flip(?:s|ped)?\b|\bupside{_W}down\b"
)


def _choice(negative: str, positive: str) -> re.Pattern[str]:
    """One pattern for both sides of a choice, so "less saturated" is never read as "saturated"."""
    return re.compile(rf"\b(?:(?P<neg>{negative})|(?P<pos>{positive}))\b")


_BRIGHTNESS = _choice(
    r"dark(?:er|en(?:s|ed|ing)?)|dimmer",
    r"bright(?:er|en(?:s|ed|ing)?)|lighten(?:s|ed|ing)?",
)
_CONTRAST = _choice(
    rf"(?:less|lower|reduce[ds]?|decrease[ds]?|softer|weaker){_W}(?:the{_W})?contrast|low{_W}contrast"
    rf"|flat(?:ter)?|faded(?!{_W}(?:in|out|to|into|from)\b)|washed{_W}out",
    rf"(?:more|higher|increase[ds]?|boost(?:s|ed)?|add(?:s|ed)?|stronger){_W}(?:the{_W})?contrast"
    rf"|high{_W}contrast|contrasty|punch(?:y|ier)",
)
_SATURATION = _choice(
    rf"de(?:{_W})?saturat(?:e|ed|es|ing|ion)|muted|under(?:{_W})?saturated"
    rf"|less{_W}(?:saturat\w*|colou?r\w*|vivid)|(?:lower|reduce[ds]?){_W}(?:the{_W})?saturation",
    rf"(?:over(?:{_W})?)?saturat(?:e|ed)|vivid|vibrant|more{_W}(?:saturat\w*|colou?r\w*)|colou?rful"
    rf"|(?:boost(?:s|ed)?|increase[ds]?|higher){_W}(?:the{_W})?saturation",
)
_TONE = _choice(
    r"sepia|vintage",
    rf"black(?:{_W})?(?:and|&|n)(?:{_W})?white|b\s*[&/]\s*w|monochrome|gr[ae]y(?:{_W})?scale",
)
_TEMPERATURE = _choice(
    rf"cool(?:er)?|cold(?:er)?|blu(?:e|er|ish){_W}tint(?:ed)?",
    r"warm(?:er|th)?|golden",
)


def _last_side(pattern: re.Pattern[str], text: str) -> int:
    """+1 / -1 for the side of the last match of a :func:`_choice` pattern, 0 if none."""
    matches = list(pattern.finditer(text))
    if not matches:
        return 0
    return 1 if matches[-1].group("pos") is not None else -1


def _speed(text: str) -> float:
    """The speed factor of the last speed phrase (1.0 if none), clamped to [SLOWEST, FASTEST]."""
    factor = 1.0
    for match in _SPEED.finditer(text):
        kind = match.lastgroup
        value = float(match.group(kind)) if kind and kind.endswith(("_n", "_at", "_speed", "_low")) else 0
        if kind == "fast":
            factor = 2.0
        elif kind == "slow":
            factor = 0.5
        elif kind == "fast_n" and value > 1:
            factor = value
        elif kind == "slow_n" and value > 1:
            factor = 1.0 / value
        elif kind in ("rate_at", "rate_speed", "rate_low") and value > 0:
            factor = value
    return min(max(factor, SLOWEST), FASTEST)


# -- the plan ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EditPlan:
    """What a prompt asks for, by operation; the defaults do nothing."""

    stabilize: bool = False
    reverse: bool = False
    speed: float = 1.0
    """Source frames per output frame: 2 plays twice as fast, 0.5 in slow motion."""
    zoom: float = 1.0
    mirror: bool = False
    flip_vertical: bool = False
    brightness: int = 0
    """+1 brighter, -1 darker."""
    contrast: int = 0
    saturation: int = 0
    tone: Literal["monochrome", "sepia"] | None = None
    temperature: int = 0
    """+1 warmer, -1 cooler."""
    fade_in: bool = False
    fade_out: Literal["black", "white"] | None = None

    @property
    def operations(self) -> list[str]:
        """Operation names in the order they run (see the module docstring); empty: nothing to do."""
        ops: list[str] = []
        if self.stabilize:
            ops.append("stabilize")
        if self.reverse:
            ops.append("reverse")
        if self.speed != 1.0:
            ops.append(f"speed:{round(self.speed, 3)}")
        if self.zoom != 1.0:
            ops.append(f"zoom:{round(self.zoom, 3)}")
        if self.mirror:
            ops.append("mirror")
        if self.flip_vertical:
            ops.append("flip_vertical")
        if self.brightness:
            ops.append("grade:brighter" if self.brightness > 0 else "grade:darker")
        if self.contrast:
            ops.append("grade:more_contrast" if self.contrast > 0 else "grade:less_contrast")
        if self.saturation:
            ops.append("grade:saturate" if self.saturation > 0 else "grade:desaturate")
        if self.tone is not None:
            ops.append(f"grade:{self.tone}")
        if self.temperature:
            ops.append("grade:warm" if self.temperature > 0 else "grade:cool")
        if self.fade_in:
            ops.append("fade_in")
        if self.fade_out is not None:
            ops.append(f"fade_out:{self.fade_out}")
        return ops

    def output_frames(self, source_frames: int) -> int:
        """How many frames the edit makes from ``source_frames``: ``ceil(n / speed)``, at most 2n."""
        if source_frames <= 0:
            return 0
        return min(2 * source_frames, max(1, math.ceil(source_frames / self.speed - 1e-9)))


def parse_edits(prompt: str) -> EditPlan:
    """Read the edit vocabulary (see the module docstring) out of ``prompt``."""
    text = prompt.lower()
    tone = _last_side(_TONE, text)
    directions = parse_directions(text)
    return EditPlan(
        stabilize=bool(_STABILIZE.search(text)),
        reverse=bool(_REVERSE.search(text)),
        speed=_speed(text),
        zoom=ZOOM_IN if _ZOOM.search(text) else 1.0,
        mirror=bool(_MIRROR.search(text)),
        flip_vertical=bool(_FLIP_VERTICAL.search(text)),
        brightness=_last_side(_BRIGHTNESS, text),
        contrast=_last_side(_CONTRAST, text),
        saturation=_last_side(_SATURATION, text),
        tone="monochrome" if tone > 0 else "sepia" if tone < 0 else None,
        temperature=_last_side(_TEMPERATURE, text),
        fade_in=directions.fade_in,
        fade_out=directions.fade_out,
    )


def check_edit(job: EditJob) -> EditPlan:
    """Validate ``job`` and read its prompt; raises :class:`EngineError` for what cannot be done."""
    if job.width < 1 or job.height < 1:
        raise EngineError(f"frame size must be positive, got {job.width}x{job.height}")
    if not job.fps > 0:
        raise EngineError(f"fps must be positive, got {job.fps}")
    if job.frame_count < 1:
        raise EngineError(f"an edit needs at least one source frame, got frame_count={job.frame_count}")
    if not callable(job.frames):
        raise EngineError(f"EditJob.frames must be callable, got {type(job.frames).__name__}")
    if not isinstance(job.prompt, str):
        raise EngineError(f"the edit prompt must be a string, got {type(job.prompt).__name__}")
    plan = parse_edits(job.prompt)
    if not plan.operations:
        raise EngineError(
            "the motion engine cannot do what this prompt asks: it only re-times, reverses, crops, "
            f"flips, stabilises, colour-grades and fades a video. Words it understands: {UNDERSTOOD}",
            param="prompt",
            code="edit_not_understood",
        )
    if plan.reverse:
        _check_reverse_size(job.frame_count, job.width, job.height)
    return plan


def _check_reverse_size(frames: int, width: int, height: int) -> None:
    size = frames * width * height * 3
    if size > REVERSE_MAX_BYTES:
        most = REVERSE_MAX_BYTES // (width * height * 3)
        raise EngineError(
            f"reverse holds the whole video in memory: at {width}x{height} it is limited to {most} "
            f"frames, this video has {frames}",
            param="video",
            code="edit_too_long",
        )


# -- the operations ---------------------------------------------------------------------------


class Grade:
    """The colour grades of a plan as at most two look-up tables and one 3×3 colour matrix."""

    def __init__(self, plan: EditPlan) -> None:
        x = np.arange(256, dtype=np.float64) / 255.0
        tone = x.copy()
        if plan.brightness:
            tone = tone ** (BRIGHT_GAMMA**-plan.brightness)
        if plan.contrast > 0:
            tone = tone + CONTRAST_CURVE * (tone * tone * (3.0 - 2.0 * tone) - tone)
        elif plan.contrast < 0:
            lo, hi = FLAT_RANGE
            tone = lo + (hi - lo) * tone
        matrix = np.eye(3)
        if plan.saturation:
            s = SATURATE if plan.saturation > 0 else DESATURATE
            matrix = s * np.eye(3) + (1.0 - s) * np.outer(np.ones(3), LUMA)
        if plan.tone == "monochrome":
            matrix = np.outer(np.ones(3), LUMA) @ matrix
        elif plan.tone == "sepia":
            matrix = np.outer(SEPIA_TINT, LUMA) @ matrix
        gammas = (1.0, 1.0, 1.0)
        if plan.temperature:
            gammas = WARM_GAMMAS if plan.temperature > 0 else COOL_GAMMAS
        temperature = np.stack([x**g for g in gammas], axis=-1)  # (256, 3)

        def table(values: np.ndarray) -> np.ndarray:
            return np.clip(np.round(values * 255.0), 0, 255).astype(np.uint8).reshape(1, 256, -1)

        self.matrix: np.ndarray | None = None
        curves = bool(plan.brightness or plan.contrast)
        if np.allclose(matrix, np.eye(3)):
            # one table: the tone curve, then the per-channel temperature curves
            index = np.clip(np.round(tone * 255.0), 0, 255).astype(np.intp)
            self.pre = None
            self.post = table(temperature[index]) if curves or plan.temperature else None
        else:
            self.pre = table(np.repeat(tone[:, None], 3, axis=1)) if curves else None
            self.matrix = matrix.astype(np.float32)
            self.post = table(temperature) if plan.temperature else None

    @property
    def active(self) -> bool:
        return self.pre is not None or self.matrix is not None or self.post is not None

    def apply(self, frame: np.ndarray) -> np.ndarray:
        if self.pre is not None:
            frame = cv2.LUT(frame, self.pre)
        if self.matrix is not None:
            frame = cv2.transform(frame, self.matrix)
        if self.post is not None:
            frame = cv2.LUT(frame, self.post)
        return frame


class Geometry:
    """Centre zoom, then mirror and vertical flip."""

    def __init__(self, plan: EditPlan, width: int, height: int) -> None:
        self.size = (width, height)
        self.matrix: np.ndarray | None = None
        if plan.zoom != 1.0:
            z = plan.zoom
            cx, cy = (width - 1) / 2, (height - 1) / 2
            self.matrix = np.array([[z, 0.0, (1 - z) * cx], [0.0, z, (1 - z) * cy]])
        flips = {(True, False): 1, (False, True): 0, (True, True): -1}
        self.flip = flips.get((plan.mirror, plan.flip_vertical))

    @property
    def active(self) -> bool:
        return self.matrix is not None or self.flip is not None

    def apply(self, frame: np.ndarray) -> np.ndarray:
        if self.matrix is not None:
            frame = cv2.warpAffine(
                frame, self.matrix, self.size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
            )
        if self.flip is not None:
            frame = cv2.flip(frame, self.flip)
        return frame


class Fades:
    """Fade in from black over the first second, out to black or white over the last one."""

    def __init__(self, plan: EditPlan, output_frames: int, fps: Fraction) -> None:
        self.n = output_frames
        both = plan.fade_in and plan.fade_out is not None
        most = max(1, output_frames // 2 if both else output_frames)
        self.length = max(1, min(round(float(fps) * FADE_SECONDS), most))
        self.fade_in = plan.fade_in
        self.colour = plan.fade_out

    @property
    def active(self) -> bool:
        return self.fade_in or self.colour is not None

    def apply(self, frame: np.ndarray, index: int) -> np.ndarray:
        black = 1.0 - smoothstep(index / self.length) if self.fade_in else 0.0
        out = smoothstep((index + 1 - (self.n - self.length)) / self.length) if self.colour else 0.0
        if black <= 0.0 and out <= 0.0:
            return frame
        # fade out to its colour, then (over it) fade in from black
        keep = (1.0 - out) * (1.0 - black)
        level = 255.0 * out * (1.0 - black) if self.colour == "white" else 0.0
        return cv2.addWeighted(frame, keep, frame, 0.0, level)


def retime(frames: Iterable[np.ndarray], speed: float) -> Iterator[np.ndarray]:
    """Output frame ``j`` shows source position ``j·speed``: the frame there, or a blend when slowed.

    Speeding up (``speed`` > 1) keeps source frame ``⌊j·speed⌋``; slowing down
    blends the two source frames around the position linearly (the last source
    frame is repeated at the end). Streams, holding two source frames.
    """
    source = iter(frames)
    current = next(source, None)
    if current is None:
        return
    following = next(source, None)
    index = 0
    j = 0
    while True:
        position = j * speed
        k = math.floor(position + 1e-9)
        while index < k and following is not None:
            current, index = following, index + 1
            following = next(source, None)
        if index < k:
            return
        fraction = position - k
        if speed < 1.0 and fraction > 1e-6 and following is not None:
            yield cv2.addWeighted(current, 1.0 - fraction, following, fraction, 0.0)
        else:
            yield current
        j += 1


class Stabilizer:
    """Measures the camera path over one pass, then steadies frames on the next (module docstring)."""

    def __init__(self, width: int, height: int, fps: Fraction) -> None:
        self.size = (width, height)
        self.fps = float(fps)
        short = min(width, height)
        self.scale = min(1.0, ANALYSIS_SIDE / short)
        self.low = (max(1, round(width * self.scale)), max(1, round(height * self.scale)))
        self.steps: list[tuple[float, float, float, float]] = []
        self.matrices: np.ndarray | None = None

    def _grey(self, frame: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if self.scale < 1.0:
            grey = cv2.resize(grey, self.low, interpolation=cv2.INTER_AREA)
        return grey

    def measure(self, frames: Iterable[np.ndarray], tick: Callable[[int], None]) -> None:
        """First pass: the motion from each frame to the next; ``tick(frames read)`` as it goes."""
        previous: np.ndarray | None = None
        count = 0
        for frame in frames:
            grey = self._grey(frame)
            if previous is not None:
                self.steps.append(self._step(previous, grey))
            previous = grey
            count += 1
            tick(count)
        self._plan(count)

    def _step(self, a: np.ndarray, b: np.ndarray) -> tuple[float, float, float, float]:
        """(dx, dy, rotation, log scale) of ``b``'s content against ``a``'s, about the centre, full-res px."""
        lw, lh = self.low
        short = min(lw, lh)
        centre = np.array([(lw - 1) / 2, (lh - 1) / 2])
        step: tuple[float, float, float, float] | None = None
        points = cv2.goodFeaturesToTrack(
            a, maxCorners=300, qualityLevel=0.01, minDistance=max(3, short // 40), blockSize=7
        )
        if points is not None and len(points) >= 12:
            moved, found, _ = cv2.calcOpticalFlowPyrLK(a, b, points, None, winSize=(21, 21), maxLevel=3)
            back, found_back, _ = cv2.calcOpticalFlowPyrLK(b, a, moved, None, winSize=(21, 21), maxLevel=3)
            error = np.linalg.norm((back - points).reshape(-1, 2), axis=1)
            good = (found.ravel() == 1) & (found_back.ravel() == 1) & (error < 0.5)
            if int(good.sum()) >= 12:
                matrix, inliers = cv2.estimateAffinePartial2D(
                    points[good],
                    moved[good],
                    method=cv2.RANSAC,
                    ransacReprojThreshold=1.0,
                    maxIters=2000,
                    confidence=0.995,
                )
                if matrix is not None and int(inliers.sum()) >= max(8, 0.3 * int(good.sum())):
                    linear = matrix[:, :2]
                    shift = matrix[:, 2] + linear @ centre - centre
                    angle = math.atan2(linear[1, 0], linear[0, 0])
                    log_scale = math.log(max(math.hypot(linear[0, 0], linear[1, 0]), 1e-6))
                    step = (float(shift[0]), float(shift[1]), angle, log_scale)
        if step is None:
            window = cv2.createHanningWindow((lw, lh), cv2.CV_32F)
            (dx, dy), response = cv2.phaseCorrelate(a.astype(np.float32), b.astype(np.float32), window)
            step = (dx, dy, 0.0, 0.0) if response > 0.02 else (0.0, 0.0, 0.0, 0.0)
        dx, dy, angle, log_scale = step
        if math.hypot(dx, dy) > 0.25 * short or abs(angle) > 0.25 or abs(log_scale) > 0.25:
            return (0.0, 0.0, 0.0, 0.0)  # a cut, not shake
        return (dx / self.scale, dy / self.scale, angle, log_scale)

    def _plan(self, count: int) -> None:
        """Per-frame correction warps from the measured steps."""
        if count == 0:
            self.matrices = np.zeros((0, 2, 3))
            return
        path = np.zeros((count, 4))
        if self.steps:
            path[1:] = np.cumsum(np.array(self.steps), axis=0)
        radius = max(1, round(STABILIZE_SMOOTH_SECONDS * self.fps / 2))
        smooth = _smooth(path, radius)
        correction = smooth - path  # move each frame's content this much (x, y, angle, log scale)

        cos, sin = np.cos(correction[:, 2]), np.sin(correction[:, 2])
        gain = np.exp(correction[:, 3])
        linear = np.empty((count, 2, 2))
        linear[:, 0, 0], linear[:, 0, 1] = gain * cos, -gain * sin
        linear[:, 1, 0], linear[:, 1, 1] = gain * sin, gain * cos
        shift = correction[:, :2]
        zoom = self._zoom(linear, shift)
        w, h = self.size
        centre = np.array([(w - 1) / 2, (h - 1) / 2])
        # forward map: p' = zoom·(linear·(p - c) + shift) + c
        matrices = np.empty((count, 2, 3))
        matrices[:, :, :2] = zoom * linear
        matrices[:, :, 2] = centre + zoom * shift - (zoom * linear) @ centre
        self.matrices = matrices

    def _zoom(self, linear: np.ndarray, shift: np.ndarray) -> float:
        """The smallest centre zoom (≤ STABILIZE_MAX_ZOOM) for which every corrected frame covers the view.

        Output corner offset ``d`` (from the centre) reads the source at offset
        ``L·(d/zoom - shift)``, ``L`` the inverse of ``linear``; each source
        coordinate must stay within half the frame. Linear in ``u = 1/zoom``.
        """
        w, h = self.size
        half = np.array([(w - 1) / 2, (h - 1) / 2])
        corners = np.array([[-1, -1], [1, -1], [-1, 1], [1, 1]]) * half  # (4, 2)
        inverse = np.linalg.inv(linear)  # (n, 2, 2)
        a = np.einsum("nij,kj->nki", inverse, corners)  # (n, 4, 2): L·d
        b = np.einsum("nij,nj->ni", inverse, shift)[:, None, :]  # (n, 1, 2): L·shift
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = np.where(a > 1e-9, (half + b) / a, np.where(a < -1e-9, (b - half) / a, np.inf))
        u = float(np.min(bound)) if bound.size else 1.0
        if u >= 1.0:
            return 1.0
        return STABILIZE_MAX_ZOOM if u <= 1.0 / STABILIZE_MAX_ZOOM else 1.0 / u

    def apply(self, index: int, frame: np.ndarray) -> np.ndarray:
        assert self.matrices is not None, "measure() first"
        if index >= len(self.matrices):
            return frame  # more frames than the first pass saw: leave the extra ones alone
        matrix = self.matrices[index]
        if np.allclose(matrix, [[1, 0, 0], [0, 1, 0]], atol=1e-6):
            return frame
        return cv2.warpAffine(frame, matrix, self.size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _smooth(path: np.ndarray, radius: int) -> np.ndarray:
    """Moving average of each column over ``i ± radius``, extended to the ends by a linear fit.

    Each row is the least-squares line through the rows of its window (cut
    short at the ends), evaluated at the row: in the middle that is exactly the
    moving average, and at the ends a steady pan stays a steady pan instead of
    being pulled towards a standstill.
    """
    n = len(path)
    if n < 2:
        return path.copy()
    t = np.arange(n, dtype=np.float64)
    lo = np.maximum(t - radius, 0).astype(np.intp)
    hi = np.minimum(t + radius, n - 1).astype(np.intp) + 1

    def window_sum(values: np.ndarray) -> np.ndarray:
        sums = np.concatenate([np.zeros((1, *values.shape[1:])), np.cumsum(values, axis=0)])
        return sums[hi] - sums[lo]

    s0 = (hi - lo).astype(np.float64)[:, None]
    s1 = window_sum(t)[:, None]
    s2 = window_sum(t * t)[:, None]
    y = window_sum(path)
    ty = window_sum(t[:, None] * path)
    slope = (s0 * ty - s1 * y) / (s0 * s2 - s1 * s1)
    return (y - slope * s1) / s0 + slope * t[:, None]


# -- the whole edit ---------------------------------------------------------------------------


def _checked(frames: Iterable[np.ndarray], job: EditJob) -> Iterator[np.ndarray]:
    want = (job.height, job.width, 3)
    for index, frame in enumerate(frames):
        if not isinstance(frame, np.ndarray) or frame.shape != want or frame.dtype != np.uint8:
            got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise EngineError(f"source frame {index} must be uint8 RGB of shape {want}, got {got}")
        yield np.ascontiguousarray(frame)


def render_edit(job: EditJob, plan: EditPlan, progress: ProgressCallback) -> Iterator[np.ndarray]:
    """Run ``plan`` over ``job``'s frames (a generator; :func:`check_edit` the job first)."""
    n = job.frame_count
    total = plan.output_frames(n)
    passes = int(plan.stabilize) + int(plan.reverse)
    start = 0.0
    progress(0.0)

    def reading(offset: float) -> Callable[[int], None]:
        return lambda count: progress(offset + READ_SHARE * min(1.0, count / n))

    stabilizer: Stabilizer | None = None
    if plan.stabilize:
        stabilizer = Stabilizer(job.width, job.height, job.fps)
        stabilizer.measure(_checked(job.frames(), job), reading(start))
        start += READ_SHARE
    frames: Iterator[np.ndarray] = _checked(job.frames(), job)
    if stabilizer is not None:
        frames = (stabilizer.apply(i, frame) for i, frame in enumerate(frames))
    if plan.reverse:
        held = _hold(frames, job, reading(start))
        start += READ_SHARE
        frames = reversed(held)
    if plan.speed != 1.0:
        frames = retime(frames, plan.speed)
    geometry = Geometry(plan, job.width, job.height)
    grade = Grade(plan)
    fades = Fades(plan, total, job.fps)
    share = 1.0 - READ_SHARE * passes
    made = 0
    for frame in frames:
        if made >= 2 * n:
            break  # never more than twice the source, whatever frames() yields
        if geometry.active:
            frame = geometry.apply(frame)
        if grade.active:
            frame = grade.apply(frame)
        if fades.active:
            frame = fades.apply(frame, made)
        made += 1
        progress(start + share * min(1.0, made / total))
        yield frame
    if made == 0:
        raise EngineError("the source video yielded no frames to edit", param="video")
    progress(1.0)


def _hold(frames: Iterable[np.ndarray], job: EditJob, tick: Callable[[int], None]) -> list[np.ndarray]:
    """All of ``frames`` in memory, for reversing; refuses past ``REVERSE_MAX_BYTES``."""
    held: list[np.ndarray] = []
    for frame in frames:
        held.append(frame)
        _check_reverse_size(len(held), job.width, job.height)
        tick(len(held))
    return held
