"""Text-only scenes: a deterministic procedural landscape picked by words in the prompt.

No model is involved. The prompt text is hashed (SHA-256) together with the
job seed to seed a numpy ``Generator``; that fixes the layout (horizon, hills,
sun, clouds, floating lights). Words in the prompt choose the palette:

* a theme word — ``sunset``, ``sunrise``/``dawn``, ``night``/``moon``/``stars``,
  ``space``/``galaxy``/``nebula``, ``forest``/``jungle``/``trees``,
  ``ocean``/``sea``/``beach``/``lake``/``water``, ``desert``/``sand``/``dunes``,
  ``snow``/``winter``/``ice``, ``fire``/``lava``/``volcano``,
  ``storm``/``rain``/``fog``/``cloudy``, ``city``/``neon``/``skyline`` — sets the
  whole scene (the first one mentioned wins; without one a theme is picked
  from the hash);
* colour words (``red``, ``orange``, ``yellow``, ``gold``, ``green``, ``teal``,
  ``cyan``, ``blue``, ``purple``, ``violet``, ``magenta``, ``pink``, ``white``,
  ``black``, ``grey``, ``brown``) colour the floating lights and tint the sky —
  fully when no theme word is present.

The scene is rendered in "world" coordinates (one unit = the initial view
height), so camera moves (zoom, pan, tilt) reveal more of an endless scene
instead of stretching pixels. It is drawn with vectorised numpy at a reduced
resolution (short side at most 240 px; every element is soft) and upscaled
with one ``cv2.resize``.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

__all__ = ["ProceduralScene", "job_rng"]

RENDER_SHORT_SIDE = 240

RGB = tuple[float, float, float]


def job_rng(prompt: str, seed: int, salt: str = "") -> np.random.Generator:
    """A numpy Generator seeded by SHA-256 of the prompt and by ``seed`` (stable across runs)."""
    digest = hashlib.sha256(f"{salt}\x00{prompt}".encode()).digest()
    words = [int.from_bytes(digest[i : i + 8], "little") for i in range(0, 32, 8)]
    return np.random.default_rng([*words, seed % 2**64])


@dataclass(frozen=True)
class Theme:
    sky_top: RGB
    sky_horizon: RGB
    ground_far: RGB
    ground_near: RGB
    accents: tuple[RGB, ...]
    sun: RGB | None = None
    sun_height: float = 0.12
    """Sun centre above the horizon, in view heights."""
    sun_size: float = 0.045
    stars: bool = False
    water: bool = False
    skyline: bool = False
    ground: bool = True
    hills: float = 0.035
    """Amplitude of the ridge lines."""
    rough: float = 0.0
    """Amplitude of fine ridge detail (tree lines)."""
    cloud: RGB = (1.0, 1.0, 1.0)
    cloud_amount: float = 0.45


THEMES: dict[str, Theme] = {
    "day": Theme(
        sky_top=(0.20, 0.45, 0.85),
        sky_horizon=(0.72, 0.84, 0.95),
        ground_far=(0.45, 0.60, 0.47),
        ground_near=(0.14, 0.33, 0.12),
        accents=((1.0, 0.95, 0.8), (1.0, 0.85, 0.5)),
        sun=(1.0, 0.96, 0.85),
        sun_height=0.38,
        sun_size=0.04,
    ),
    "sunset": Theme(
        sky_top=(0.16, 0.10, 0.33),
        sky_horizon=(1.0, 0.55, 0.25),
        ground_far=(0.35, 0.17, 0.25),
        ground_near=(0.07, 0.03, 0.07),
        accents=((1.0, 0.6, 0.3), (1.0, 0.45, 0.55)),
        sun=(1.0, 0.78, 0.42),
        sun_height=0.05,
        sun_size=0.06,
        cloud=(0.95, 0.50, 0.45),
        cloud_amount=0.4,
    ),
    "sunrise": Theme(
        sky_top=(0.33, 0.45, 0.75),
        sky_horizon=(1.0, 0.76, 0.58),
        ground_far=(0.45, 0.40, 0.46),
        ground_near=(0.13, 0.14, 0.19),
        accents=((1.0, 0.8, 0.6), (1.0, 0.65, 0.7)),
        sun=(1.0, 0.9, 0.7),
        sun_height=0.07,
        sun_size=0.055,
        cloud=(1.0, 0.78, 0.75),
        cloud_amount=0.35,
    ),
    "night": Theme(
        sky_top=(0.01, 0.02, 0.07),
        sky_horizon=(0.08, 0.12, 0.28),
        ground_far=(0.06, 0.07, 0.12),
        ground_near=(0.01, 0.01, 0.03),
        accents=((1.0, 0.85, 0.5), (0.6, 0.75, 1.0)),
        sun=(0.88, 0.91, 1.0),
        sun_height=0.32,
        sun_size=0.035,
        stars=True,
        cloud=(0.20, 0.22, 0.30),
        cloud_amount=0.3,
    ),
    "space": Theme(
        sky_top=(0.0, 0.0, 0.02),
        sky_horizon=(0.04, 0.02, 0.09),
        ground_far=(0.0, 0.0, 0.0),
        ground_near=(0.0, 0.0, 0.0),
        accents=((0.6, 0.4, 1.0), (0.3, 0.6, 1.0), (1.0, 0.5, 0.8)),
        stars=True,
        ground=False,
        cloud=(0.45, 0.2, 0.6),
        cloud_amount=0.55,
    ),
    "forest": Theme(
        sky_top=(0.42, 0.62, 0.80),
        sky_horizon=(0.80, 0.88, 0.84),
        ground_far=(0.22, 0.40, 0.27),
        ground_near=(0.04, 0.16, 0.05),
        accents=((0.9, 1.0, 0.6), (1.0, 0.95, 0.7)),
        sun=(1.0, 0.97, 0.85),
        sun_height=0.33,
        sun_size=0.035,
        hills=0.03,
        rough=0.018,
    ),
    "ocean": Theme(
        sky_top=(0.22, 0.52, 0.90),
        sky_horizon=(0.76, 0.88, 0.97),
        ground_far=(0.12, 0.42, 0.62),
        ground_near=(0.02, 0.14, 0.30),
        accents=((1.0, 1.0, 0.95), (0.7, 0.9, 1.0)),
        sun=(1.0, 0.97, 0.88),
        sun_height=0.25,
        sun_size=0.04,
        water=True,
    ),
    "desert": Theme(
        sky_top=(0.33, 0.58, 0.90),
        sky_horizon=(0.96, 0.86, 0.70),
        ground_far=(0.90, 0.72, 0.46),
        ground_near=(0.68, 0.43, 0.21),
        accents=((1.0, 0.9, 0.6), (1.0, 0.7, 0.4)),
        sun=(1.0, 0.95, 0.8),
        sun_height=0.35,
        sun_size=0.045,
        hills=0.05,
        cloud_amount=0.15,
    ),
    "snow": Theme(
        sky_top=(0.58, 0.68, 0.82),
        sky_horizon=(0.90, 0.92, 0.95),
        ground_far=(0.90, 0.93, 0.97),
        ground_near=(0.74, 0.79, 0.88),
        accents=((1.0, 1.0, 1.0), (0.8, 0.9, 1.0)),
        sun=(1.0, 1.0, 0.95),
        sun_height=0.3,
        sun_size=0.035,
        hills=0.03,
        cloud=(0.95, 0.96, 1.0),
        cloud_amount=0.5,
    ),
    "fire": Theme(
        sky_top=(0.14, 0.02, 0.0),
        sky_horizon=(0.95, 0.35, 0.05),
        ground_far=(0.22, 0.05, 0.02),
        ground_near=(0.05, 0.0, 0.0),
        accents=((1.0, 0.6, 0.1), (1.0, 0.85, 0.3), (1.0, 0.3, 0.05)),
        hills=0.06,
        cloud=(0.35, 0.10, 0.05),
        cloud_amount=0.6,
    ),
    "storm": Theme(
        sky_top=(0.20, 0.22, 0.26),
        sky_horizon=(0.50, 0.52, 0.56),
        ground_far=(0.26, 0.30, 0.27),
        ground_near=(0.09, 0.11, 0.09),
        accents=((0.8, 0.85, 1.0), (0.6, 0.65, 0.7)),
        cloud=(0.30, 0.32, 0.36),
        cloud_amount=0.8,
    ),
    "city": Theme(
        sky_top=(0.04, 0.02, 0.12),
        sky_horizon=(0.38, 0.12, 0.42),
        ground_far=(0.10, 0.08, 0.18),
        ground_near=(0.03, 0.02, 0.06),
        accents=((1.0, 0.2, 0.7), (0.2, 0.9, 1.0), (1.0, 0.8, 0.2)),
        skyline=True,
        stars=True,
        cloud=(0.30, 0.12, 0.35),
        cloud_amount=0.25,
    ),
}

_THEME_WORDS: dict[str, str] = {
    "sunset": "sunset",
    "dusk": "sunset",
    "evening": "sunset",
    "sunrise": "sunrise",
    "dawn": "sunrise",
    "morning": "sunrise",
    "night": "night",
    "moon": "night",
    "moonlight": "night",
    "stars": "night",
    "starry": "night",
    "midnight": "night",
    "space": "space",
    "galaxy": "space",
    "nebula": "space",
    "cosmos": "space",
    "cosmic": "space",
    "forest": "forest",
    "woods": "forest",
    "jungle": "forest",
    "trees": "forest",
    "ocean": "ocean",
    "sea": "ocean",
    "beach": "ocean",
    "lake": "ocean",
    "water": "ocean",
    "waves": "ocean",
    "desert": "desert",
    "sand": "desert",
    "dunes": "desert",
    "snow": "snow",
    "snowy": "snow",
    "winter": "snow",
    "ice": "snow",
    "arctic": "snow",
    "fire": "fire",
    "lava": "fire",
    "volcano": "fire",
    "inferno": "fire",
    "flames": "fire",
    "storm": "storm",
    "stormy": "storm",
    "rain": "storm",
    "rainy": "storm",
    "fog": "storm",
    "foggy": "storm",
    "mist": "storm",
    "cloudy": "storm",
    "city": "city",
    "neon": "city",
    "skyline": "city",
    "cyberpunk": "city",
    "downtown": "city",
    "day": "day",
    "sunny": "day",
    "meadow": "day",
    "field": "day",
    "hills": "day",
}

COLOUR_WORDS: dict[str, RGB] = {
    "red": (0.85, 0.15, 0.12),
    "crimson": (0.75, 0.08, 0.15),
    "orange": (1.0, 0.55, 0.10),
    "yellow": (1.0, 0.85, 0.20),
    "gold": (1.0, 0.75, 0.25),
    "golden": (1.0, 0.75, 0.25),
    "green": (0.20, 0.70, 0.30),
    "teal": (0.10, 0.60, 0.60),
    "cyan": (0.20, 0.85, 0.90),
    "turquoise": (0.20, 0.85, 0.80),
    "blue": (0.15, 0.35, 0.90),
    "purple": (0.55, 0.25, 0.80),
    "violet": (0.55, 0.30, 0.90),
    "magenta": (0.90, 0.20, 0.70),
    "pink": (1.0, 0.50, 0.70),
    "white": (0.95, 0.95, 0.95),
    "black": (0.03, 0.03, 0.03),
    "grey": (0.55, 0.55, 0.58),
    "gray": (0.55, 0.55, 0.58),
    "silver": (0.75, 0.76, 0.80),
    "brown": (0.45, 0.28, 0.15),
}

_WORD = re.compile(r"[a-z]+")
_DEFAULT_THEMES = ("day", "sunset", "night", "ocean", "forest", "desert", "snow", "sunrise")


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


def theme_for(prompt: str, rng: np.random.Generator) -> Theme:
    """The palette for ``prompt``: its first theme word, tinted by its colour words."""
    words = _WORD.findall(prompt.lower())
    name = next((_THEME_WORDS[w] for w in words if w in _THEME_WORDS), None)
    colours = [COLOUR_WORDS[w] for w in words if w in COLOUR_WORDS]
    theme = THEMES[name or _DEFAULT_THEMES[int(rng.integers(len(_DEFAULT_THEMES)))]]
    if not colours:
        return theme
    first, last = colours[0], colours[-1]
    if name is None:  # the colours are all we know: let them paint the sky and the ground
        return replace(
            theme,
            accents=tuple(colours),
            sky_top=_mix(first, (0.0, 0.0, 0.0), 0.45),
            sky_horizon=_mix(last, (1.0, 1.0, 1.0), 0.3),
            ground_far=_mix(theme.ground_far, first, 0.35),
            ground_near=_mix(theme.ground_near, _mix(first, (0.0, 0.0, 0.0), 0.7), 0.5),
            cloud=_mix(theme.cloud, last, 0.3),
        )
    return replace(
        theme,
        accents=tuple(colours),
        sky_horizon=_mix(theme.sky_horizon, first, 0.25),
        cloud=_mix(theme.cloud, last, 0.2),
    )


def _periodic_noise(rng: np.random.Generator, shape: tuple[int, int], slope: float) -> np.ndarray:
    """Tileable smooth noise in [0, 1]: white noise shaped to a 1/f^slope spectrum by FFT."""
    h, w = shape
    fy = np.fft.fftfreq(h)[:, None] * h
    fx = np.fft.rfftfreq(w)[None, :] * w
    f = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = 1.0
    spectrum = np.fft.rfft2(rng.standard_normal(shape)) / f**slope
    spectrum[0, 0] = 0.0
    spectrum[f > min(h, w) / 3] = 0.0
    noise = np.fft.irfft2(spectrum, s=shape)
    noise -= noise.min()
    noise /= max(float(noise.max()), 1e-9)
    return noise.astype(np.float32)


def _star_field(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Tileable sparse soft points (values in [0, 1])."""
    h, w = shape
    stars = np.zeros(shape, np.float32)
    count = max(8, h * w // 700)
    ys = rng.integers(0, h, count)
    xs = rng.integers(0, w, count)
    stars[ys, xs] = rng.uniform(0.35, 1.0, count).astype(np.float32) ** 2
    # a tiny wrap-around blur keeps the points visible after bilinear sampling
    soft = stars * 0.5
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        soft += np.roll(stars, (dy, dx), axis=(0, 1)) * 0.18
    return np.minimum(soft * 1.6, 1.0)


@dataclass
class _Blob:
    x: float
    y: float
    vx: float
    vy: float
    radius: float
    alpha: float
    colour: np.ndarray
    bob: float
    bob_freq: float
    bob_phase: float


@dataclass
class ProceduralScene:
    """A seeded landscape; ``render(t, view)`` draws it at time ``t`` seen through ``view``."""

    prompt: str
    seed: int
    width: int
    height: int
    theme: Theme = field(init=False)

    def __post_init__(self) -> None:
        rng = job_rng(self.prompt, self.seed, "procedural")
        self.theme = th = theme_for(self.prompt, rng)
        scale = min(1.0, RENDER_SHORT_SIDE / min(self.width, self.height))
        self._rw = max(1, round(self.width * scale))
        self._rh = max(1, round(self.height * scale))
        self._aspect = self.width / self.height
        self._horizon = float(rng.uniform(0.56, 0.68)) if th.ground else 9.0
        self._sun_x = float(rng.uniform(0.25, 0.75)) * self._aspect
        self._drift = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.015, 0.03))
        self._wind = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.01, 0.025))
        # three ridge lines, far to near, each a sum of a few sines
        self._ridges = []
        for j in range(3):
            freqs = rng.uniform(0.4, 2.5, 4) * (1 + j * 0.4)
            amps = rng.uniform(0.3, 1.0, 4) / np.arange(1, 5)
            amps *= (0.25 if th.water else 1.0) * th.hills * (1 + 0.4 * j) / amps.sum()
            phases = rng.uniform(0, 2 * math.pi, 4)
            self._ridges.append((freqs, amps, phases, 0.04 + 0.09 * j))
        self._rough_phase = rng.uniform(0, 2 * math.pi, 2)
        self._skyline = rng.uniform(0.04, 0.22, 64).astype(np.float32)
        self._clouds = _periodic_noise(rng, (128, 256), 1.7)
        self._cloud_threshold = float(rng.uniform(0.45, 0.6))
        self._stars = _star_field(rng, (self._rh, self._rh * 2)) if th.stars else None
        self._blobs = [
            _Blob(
                x=float(rng.uniform(0.1, 0.9)) * self._aspect,
                y=float(rng.uniform(0.15, 0.8)),
                vx=float(rng.uniform(-0.04, 0.04)),
                vy=float(rng.uniform(-0.015, 0.015)),
                radius=float(rng.uniform(0.035, 0.11)),
                alpha=float(rng.uniform(0.25, 0.5)),
                colour=np.asarray(th.accents[i % len(th.accents)], np.float32),
                bob=float(rng.uniform(0.01, 0.03)),
                bob_freq=float(rng.uniform(0.15, 0.35)),
                bob_phase=float(rng.uniform(0, 2 * math.pi)),
            )
            for i in range(int(rng.integers(3, 6)))
        ]
        cols = (np.arange(self._rw, dtype=np.float32) + 0.5) / self._rw
        rows = (np.arange(self._rh, dtype=np.float32) + 0.5) / self._rh
        self._cols = cols * self._aspect  # view coordinates of the render grid
        self._rows = rows
        vig = ((cols - 0.5) ** 2)[None, :] + ((rows - 0.5) ** 2)[:, None]
        self._vignette = (1.0 - 0.35 * vig).astype(np.float32)
        self._img = np.empty((3, self._rh, self._rw), np.float32)
        self._map_x = np.empty((self._rh, self._rw), np.float32)
        self._map_y = np.empty((self._rh, self._rw), np.float32)

    def _ridge(self, j: int, x: np.ndarray, t: float) -> np.ndarray:
        freqs, amps, phases, offset = self._ridges[j]
        shift = self._drift * (0.4 + 0.8 * j) * t * (3.0 if self.theme.water else 1.0)
        xs = x + shift
        y = np.full_like(x, self._horizon + offset)
        for f, a, p in zip(freqs, amps, phases, strict=True):
            y -= a * (np.sin(2 * math.pi * f * xs + p) + 1.0)
        if self.theme.rough:
            r = self.theme.rough * (1 + 0.5 * j)
            y -= r * np.abs(np.sin(9.0 * xs + self._rough_phase[0]))
            y -= 0.6 * r * np.abs(np.sin(23.0 * xs + self._rough_phase[1]))
        if self.theme.skyline and j == 0:
            blocks = np.floor(xs * 12.0).astype(np.int64) % len(self._skyline)
            y = np.minimum(y, self._horizon + offset - self._skyline[blocks])
        return y.astype(np.float32)

    def _sample(self, texture: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Sample a tileable texture at texel coordinates (1-D ``u`` per column, ``v`` per row)."""
        map_x, map_y = self._map_x[: v.size], self._map_y[: v.size]
        map_x[:] = u[None, :]
        map_y[:] = v[:, None]
        return cv2.remap(texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)

    def render(self, t: float, view: tuple[float, float, float]) -> np.ndarray:
        """The frame at ``t`` seconds (animation time) through ``view`` = (scale, vx, vy)."""
        th = self.theme
        scale, vx, vy = view
        aspect = self._aspect
        x = (aspect / 2 + (self._cols - aspect / 2) / scale + vx * aspect).astype(np.float32)
        y = (0.5 + (self._rows - 0.5) / scale + vy).astype(np.float32)
        px = 1.0 / (self._rh * scale)  # one render pixel in world units
        # planar layout (channel, row, column): numpy's inner loops then run along rows
        img = self._img

        # sky: vertical gradient, brighter towards the horizon
        g = np.clip(y / min(self._horizon, 1.0), 0.0, 1.0) ** 0.8
        top, hor = _col(th.sky_top), _col(th.sky_horizon)
        img[:] = top + (hor - top) * g[None, :, None]
        # stars and clouds fade out towards the horizon: only the rows above it are touched
        sky_rows = int(np.searchsorted(y, self._horizon))
        sky, ys = img[:, :sky_rows], y[:sky_rows]
        above = 1.0 - np.clip((ys - (self._horizon - 0.35)) / 0.35, 0.0, 1.0)  # 1 high up

        if self._stars is not None and sky_rows:
            sh = self._stars.shape[0]
            stars = self._sample(self._stars, x * sh, ys * sh)
            twinkle = 0.85 + 0.15 * math.sin(1.7 * t)
            sky += stars * (above * twinkle)[:, None]

        if th.sun is not None:
            sy = self._horizon - th.sun_height + 0.004 * t
            r = th.sun_size
            dx2, dy2 = (x - self._sun_x) ** 2, (y - sy) ** 2
            disc = np.clip((r * r - (dx2[None, :] + dy2[:, None])) / (2 * r * px) + 0.5, 0.0, 1.0)
            # the glows are Gaussians, so separable: outer products instead of 2-D exps
            disc += np.outer(np.exp(-dy2 / (36 * r * r)), np.exp(-dx2 / (36 * r * r)) * 0.35)
            disc += np.outer(np.exp(-dy2 / (4 * r * r)), np.exp(-dx2 / (4 * r * r)) * 0.3)
            img += disc * _col(th.sun)

        if th.cloud_amount > 0 and sky_rows:
            ch, cw = self._clouds.shape
            u = (x + self._wind * t) * (cw / 2.0)
            v = ys * (ch / 1.0) * 1.6
            n = self._sample(self._clouds, u, v)
            soft = np.clip((n - self._cloud_threshold) / 0.25, 0.0, 1.0)
            density = soft * soft * (3 - 2 * soft) * th.cloud_amount * above[:, None]
            sky += density * (_col(th.cloud) - sky)

        if th.ground:
            far, near = _col(th.ground_far), _col(th.ground_near)
            for j in range(3):
                ridge = self._ridge(j, x, t)
                top_row = int(np.searchsorted(y, float(ridge.min()) - 2 * px))
                if top_row >= y.size:
                    continue  # the layer is below the view
                ground, yg = img[:, top_row:], y[top_row:]
                d = yg[:, None] - ridge[None, :]
                cover = np.clip(d / (1.5 * px) + 0.5, 0.0, 1.0)
                shade = 1.0 - 0.35 * np.clip(d / 0.4, 0.0, 1.0)
                if th.water:
                    # sin(a(y) + b(x)), expanded so that only 1-D sines are computed
                    a = 2 * math.pi * (yg * 45.0 - 0.5 * t)
                    b = 3.0 * np.sin(2 * math.pi * (x * 2.5 + 0.15 * t))
                    wave = np.outer(np.sin(a), np.cos(b)) + np.outer(np.cos(a), np.sin(b))
                    shade *= 1.0 + 0.07 * wave * np.clip(d / 0.05, 0.0, 1.0)
                layer = shade * (far + (near - far) * (j / 2))
                if th.water and th.sun is not None and j == 0:
                    column = np.exp(-((x - self._sun_x) ** 2) / 0.004)[None, :]
                    layer += column * np.clip(wave, 0.0, 1.0) * 0.5 * _col(th.sun)
                ground += cover * (layer - ground)

        if self._blobs:
            # all floating lights at once: per channel, (rows × blobs) @ (blobs × columns)
            gx = np.empty((len(self._blobs), x.size), np.float32)
            gy = np.empty((y.size, len(self._blobs)), np.float32)
            tint = np.empty((3, len(self._blobs)), np.float32)
            for k, b in enumerate(self._blobs):
                phase = 2 * math.pi * b.bob_freq * t + b.bob_phase
                bx = b.x + b.vx * t + b.bob * math.sin(phase)
                by = b.y + b.vy * t + b.bob * math.cos(0.7 * phase)
                gx[k] = np.exp(-(((x - bx) / b.radius) ** 2))
                gy[:, k] = np.exp(-(((y - by) / b.radius) ** 2))
                tint[:, k] = b.colour * b.alpha
            light = np.matmul(gy[None] * tint[:, None, :], gx[None])
            img += np.minimum(light, 1.0) * (1.0 - img)  # screen blend

        img *= self._vignette
        planes = cv2.convertScaleAbs(img.reshape(3 * self._rh, self._rw), alpha=255.0)
        rh = self._rh
        frame = cv2.merge([planes[:rh], planes[rh : 2 * rh], planes[2 * rh :]])
        if (self._rw, self._rh) == (self.width, self.height):
            return frame
        return cv2.resize(frame, (self.width, self.height), interpolation=cv2.INTER_LINEAR)


def _col(rgb: RGB) -> np.ndarray:
    """An RGB triple shaped to broadcast over a planar (3, rows, columns) image."""
    return np.asarray(rgb, np.float32).reshape(3, 1, 1)
