"""The motion engine: classical motion extrapolation on the CPU — no model weights, no "AI".

It makes plausible, honest continuations from what it is given, with OpenCV
and numpy only. It runs comfortably on two CPU cores.

**extend** continues a video from its last frames:

1. *Motion.* Dense optical flow is measured between the last two context
   frames, on a grey image downscaled by ``flow_scale`` (its short side is
   never below 96 px), lightly smoothed, and used as a per-pixel velocity ``v``
   (pixels per frame, defined on the last frame's grid). New frame ``t``
   (1-based) is the last real frame warped by the accumulated, damped
   displacement ``D_t = Σ_{k=1..t} damping^k · v`` — one ``cv2.remap`` from the
   last real frame each time, never a warp of a warp, so the picture does not
   soften as the segment goes on. ``cv2.remap`` needs a backward map, so frame
   ``t`` samples the last frame at ``x - D_t(x)`` (velocity read at the
   destination instead of the source — the usual approximation, exact for
   uniform motion). Borders uncovered by the motion are filled by reflection.
   The flow is OpenCV's DIS (dense inverse search, Kroeger et al. 2016; preset
   "medium", refined down to the finest level), not Farnebäck: on smooth,
   low-texture pictures Farnebäck under-reports motion badly (half the true
   4 px/frame on our 1280×720 reference clip at ``flow_scale`` 0.25, about zero
   at 0.5) where DIS is exact, and DIS is also faster.
   Flow is ignored (treated as "no motion") when the two frames are nearly
   identical or look like a scene cut (the flow explains little of their
   difference); per-frame speed is capped at 8 % of the short side.
2. *Camera.* Directions in the prompt ("zoom in", "pan left", "fade to black",
   … — the full vocabulary is in :mod:`videoloom.engines._prompt`) become a
   zoom/pan/tilt that eases in over the first half second, composed into the
   same remap map (one resample per frame), plus fades.
3. *Reference images* are resized and centre-cropped to the frame and
   cross-dissolved in: weight rising smoothly (smoothstep) from 0 on the first
   new frame to 0.6 on the last. Several images are visited in order: the
   first rises over the first 1/K of the segment, then each next one takes
   over in turn.
4. *Default push-in.* When the prompt names no camera direction and there is
   no reference image, the camera pushes in gently (1.5 % per second, eased
   in) so the continuation is not a frozen frame: with a static context, and
   also after extrapolated motion has coasted to a stop (damped flow settles
   within a few seconds).

The result is deterministic: the same job gives the same frames (extend uses
no randomness at all; generate seeds from the prompt and ``job.seed``).

**generate** makes a segment from nothing but the job:

* with reference images: a slideshow with a slow, seeded Ken Burns pan/zoom on
  each image (or the prompt's camera move, when it names one) and smooth
  cross-fades between images;
* text only: a seeded procedural landscape whose palette follows words in the
  prompt (see :mod:`videoloom.engines._procedural`), with drifting clouds,
  parallax hills and floating lights, and a gentle default push-in.

**edit** re-renders a whole finished video as the prompt asks, with what
classical image processing can honestly do: stabilise (two passes over the
video: measure the camera path, then steady it), reverse, speed up or slow
down, zoom in, mirror or flip, colour-grade (warm, cool, black and white,
sepia, brighter, darker, contrast, saturation) and fade. The vocabulary, the
fixed order the operations run in and their limits are in
:mod:`videoloom.engines._edits`; ``edit_operations(prompt)`` names the
operations a prompt asks for, and a prompt that asks for none of them is
refused (``EngineError``, code ``edit_not_understood``), never answered with
the video unchanged.

Frames are produced lazily, one per ``next()``, so memory does not grow with
the segment length (an edit that reverses is the exception: it holds the
source, up to a fixed cap).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from typing import Literal

import cv2
import numpy as np
from PIL import Image, ImageOps

from videoloom.core.errors import EngineError
from videoloom.engines._edits import EditPlan, check_edit, parse_edits, render_edit
from videoloom.engines._procedural import ProceduralScene, job_rng
from videoloom.engines._prompt import CameraPath, Directions, parse_directions, smoothstep
from videoloom.engines.base import EditJob, ExtendJob, GenerateJob, ProgressCallback

__all__ = ["MotionEngine"]

REFERENCE_WEIGHT = 0.6
"""How far an extend drifts towards the reference images by its last frame."""
MIN_FLOW_SIDE = 96
"""Optical flow is measured on an image whose short side is at least this (or the frame's)."""
MAX_SPEED = 0.08
"""Cap on the extrapolated speed, as a fraction of the short side per frame."""
STATIC_SPEED = 0.1
"""Below this many pixels per frame (99th percentile) the context counts as static."""


def _as_float(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"MotionEngine option {name} must be a number, not {type(value).__name__}")
    return float(value)


class MotionEngine:
    """Motion extrapolation engine (optical flow + camera moves + image drift), CPU only.

    Options (the ``options`` table of a ``motion`` model in the models file):

    ``flow_scale`` (float, 0 < x ≤ 1, default 0.25)
        Optical flow is computed on frames downscaled by this factor (the short
        side is kept at least 96 px). Smaller is faster and smoother, larger
        follows small moving details better.
    ``damping`` (float, 0 ≤ x < 1, default 0.97)
        Per-frame decay of the extrapolated motion: frame ``t`` has moved
        ``Σ damping^k`` (k = 1..t) frames' worth of the measured motion, so the
        motion coasts to a stop after about ``1 / (1 - damping)`` frames (33 at
        0.97) instead of running away.

    Unknown options raise ``TypeError``; out-of-range values raise ``ValueError``.
    """

    name = "motion"
    native_short_side = 720

    def __init__(self, *, flow_scale: float = 0.25, damping: float = 0.97) -> None:
        self.flow_scale = _as_float("flow_scale", flow_scale)
        self.damping = _as_float("damping", damping)
        if not 0.0 < self.flow_scale <= 1.0:
            raise ValueError(f"MotionEngine option flow_scale must be in (0, 1], got {flow_scale}")
        if not 0.0 <= self.damping < 1.0:
            raise ValueError(f"MotionEngine option damping must be in [0, 1), got {damping}")

    def __repr__(self) -> str:
        return f"MotionEngine(flow_scale={self.flow_scale}, damping={self.damping})"

    def close(self) -> None:
        """Nothing to release: the engine holds no model, files or threads."""

    # -- extend ---------------------------------------------------------------------------------

    def extend(self, job: ExtendJob, progress: ProgressCallback) -> Iterator[np.ndarray]:
        """Continue from ``job.context``; the job is checked now, frames are made lazily."""
        _check_job(job)
        context = _check_context(job)
        references = [_cover(img, job.width, job.height) for img in job.reference_images]
        return self._extend(job, context, references, progress)

    def _extend(
        self,
        job: ExtendJob,
        context: list[np.ndarray],
        references: list[np.ndarray],
        progress: ProgressCallback,
    ) -> Iterator[np.ndarray]:
        try:
            last = context[-1]
            flow = self._velocity(context[-2], last) if len(context) >= 2 else None
            directions = parse_directions(job.prompt)
            damping = directions.damping(self.damping)
            # The push-in also runs under extrapolated motion: damped flow coasts to a stop
            # within a few seconds, and the continuation must not end frozen.
            camera = directions.camera(default_push_in=not references)
            warper = _Warper(last, flow)
            drift = _Drift(references) if references else None
            fade = _Fade(directions, job.num_frames, job.fps, fade_in=False)
            fps = float(job.fps)
            n = job.num_frames
            progress(0.0)
            travelled = 0.0  # Σ_{k=1..i} damping^k
            for i in range(1, n + 1):
                travelled = travelled * damping + damping
                frame = warper.render(camera.view(i / fps), travelled)
                if drift is not None:
                    frame = drift.apply(frame, (i - 1) / max(n - 1, 1))
                frame = fade.apply(frame, i - 1)
                progress(i / n)
                yield frame
        except cv2.error as exc:
            raise EngineError(f"motion engine failed while extending: {exc}") from exc

    def _velocity(self, prev: np.ndarray, last: np.ndarray) -> np.ndarray | None:
        """Per-pixel velocity (px/frame, x then y) on a low-res grid of ``last``, or None."""
        h, w = last.shape[:2]
        scale = min(1.0, max(self.flow_scale, MIN_FLOW_SIDE / min(h, w)))
        lw, lh = max(1, round(w * scale)), max(1, round(h * scale))
        if min(lw, lh) < 16:
            return None
        g_last = cv2.resize(cv2.cvtColor(last, cv2.COLOR_RGB2GRAY), (lw, lh), interpolation=cv2.INTER_AREA)
        g_prev = cv2.resize(cv2.cvtColor(prev, cv2.COLOR_RGB2GRAY), (lw, lh), interpolation=cv2.INTER_AREA)
        raw = float(cv2.absdiff(g_last, g_prev).mean())
        if raw < 0.25:
            return None
        # flow from the last frame back to the one before: last(x) ≈ prev(x + back(x)).
        # DIS (dense inverse search) down to the finest level of the downscaled image: unlike
        # Farnebäck it keeps its accuracy on smooth, low-texture pictures (see module docstring)
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        dis.setFinestScale(0)
        back = dis.calc(g_last, g_prev, None)
        grid = np.dstack(np.meshgrid(np.arange(lw, dtype=np.float32), np.arange(lh, dtype=np.float32)))
        predicted = cv2.remap(g_prev, grid + back, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        residual = float(cv2.absdiff(predicted, g_last).mean())
        if raw > 20.0 and residual > 0.6 * raw:
            return None  # the flow explains little of the change: a cut, not motion
        velocity = cv2.GaussianBlur(-back, (0, 0), 1.0)
        velocity[..., 0] *= w / lw
        velocity[..., 1] *= h / lh
        speed = np.hypot(velocity[..., 0], velocity[..., 1])
        if float(np.percentile(speed, 99)) < STATIC_SPEED:
            return None
        cap = MAX_SPEED * min(w, h)
        factor = np.minimum(1.0, cap / np.maximum(speed, 1e-6))
        # a soft dead zone: sub-0.05 px jitter must not pile up into a drift
        factor *= np.clip((speed - 0.05) / 0.1, 0.0, 1.0)
        velocity *= factor[..., None]
        return np.ascontiguousarray(velocity, dtype=np.float32)

    # -- generate -------------------------------------------------------------------------------

    def generate(self, job: GenerateJob, progress: ProgressCallback) -> Iterator[np.ndarray]:
        """Make a segment from the prompt (and images); checked now, frames made lazily."""
        _check_job(job)
        images = [_load(img) for img in job.reference_images]
        return self._generate(job, images, progress)

    def _generate(
        self, job: GenerateJob, images: list[np.ndarray], progress: ProgressCallback
    ) -> Iterator[np.ndarray]:
        try:
            directions = parse_directions(job.prompt)
            fps = float(job.fps)
            n = job.num_frames
            fade = _Fade(directions, n, job.fps, fade_in=True)
            render: Callable[[float], np.ndarray]
            if images:
                render = _SlideShow(images, job, directions)
            else:
                scene = ProceduralScene(job.prompt, job.seed, job.width, job.height)
                camera = directions.camera(default_push_in=True)
                speed = directions.animation_speed

                def render(t: float) -> np.ndarray:
                    return scene.render(t * speed, camera.view(t))

            progress(0.0)
            for i in range(n):
                frame = fade.apply(render(i / fps), i)
                progress((i + 1) / n)
                yield frame
        except cv2.error as exc:
            raise EngineError(f"motion engine failed while generating: {exc}") from exc

    # -- edit -----------------------------------------------------------------------------------

    def edit(self, job: EditJob, progress: ProgressCallback) -> Iterator[np.ndarray]:
        """Re-render ``job``'s video as its prompt asks; checked now, frames made lazily.

        The check includes the prompt: one that asks for nothing this engine can
        do raises ``EngineError`` (code ``edit_not_understood``) here.
        """
        plan = check_edit(job)
        return self._edit(job, plan, progress)

    def _edit(self, job: EditJob, plan: EditPlan, progress: ProgressCallback) -> Iterator[np.ndarray]:
        try:
            yield from render_edit(job, plan, progress)
        except cv2.error as exc:
            raise EngineError(f"motion engine failed while editing: {exc}") from exc

    def edit_operations(self, prompt: str) -> list[str]:
        """Names of the edits ``prompt`` asks for, in the order they run; empty when none is understood.

        E.g. ``["stabilize", "speed:2.0", "grade:warm"]``; the vocabulary is in
        :mod:`videoloom.engines._edits`.
        """
        return parse_edits(prompt).operations


# -- job checks -------------------------------------------------------------------------------


def _check_job(job: GenerateJob) -> None:
    if job.num_frames < 1:
        raise EngineError(f"num_frames must be at least 1, got {job.num_frames}")
    if job.width < 1 or job.height < 1:
        raise EngineError(f"frame size must be positive, got {job.width}x{job.height}")
    if not job.fps > 0:
        raise EngineError(f"fps must be positive, got {job.fps}")
    for image in job.reference_images:
        if not isinstance(image, Image.Image):
            raise EngineError(f"reference images must be PIL images, got {type(image).__name__}")


def _check_context(job: ExtendJob) -> list[np.ndarray]:
    if len(job.context) == 0:
        raise EngineError("extend needs at least one context frame, got none")
    want = (job.height, job.width, 3)
    frames = []
    for index, frame in enumerate(job.context):
        if not isinstance(frame, np.ndarray) or frame.shape != want or frame.dtype != np.uint8:
            got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise EngineError(f"context frame {index} must be uint8 RGB of shape {want}, got {got}")
    for frame in list(job.context)[-2:]:
        frames.append(np.ascontiguousarray(frame).copy())
    return frames


def _load(image: Image.Image) -> np.ndarray:
    """A reference image as an RGB uint8 array, EXIF orientation applied."""
    try:
        rgb = ImageOps.exif_transpose(image).convert("RGB")
        return np.asarray(rgb, dtype=np.uint8).copy()
    except (OSError, ValueError) as exc:
        raise EngineError(f"cannot read reference image: {exc}") from exc


def _cover(image: Image.Image | np.ndarray, width: int, height: int, oversample: float = 1.0) -> np.ndarray:
    """Resize ``image`` to cover ``width×height`` × ``oversample`` and centre-crop it.

    ``oversample`` > 1 keeps extra resolution for zooming, but never more than
    the image has.
    """
    pixels = image if isinstance(image, np.ndarray) else _load(image)
    h, w = pixels.shape[:2]
    scale = max(width / w, height / h)
    oversample = max(1.0, min(oversample, 1.0 / scale))
    scale *= oversample
    tw, th = round(width * oversample), round(height * oversample)
    rw, rh = max(tw, round(w * scale)), max(th, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_CUBIC
    resized = cv2.resize(pixels, (rw, rh), interpolation=interpolation)
    x0, y0 = (rw - tw) // 2, (rh - th) // 2
    return np.ascontiguousarray(resized[y0 : y0 + th, x0 : x0 + tw])


def _view_matrix(
    view: tuple[float, float, float], width: int, height: int, oversample: float = 1.0
) -> np.ndarray:
    """Inverse affine (output pixel → source pixel) of a camera view over a width×height picture.

    The source may be ``oversample`` times larger than the output.
    """
    scale, vx, vy = view
    cx, cy = (width - 1) / 2, (height - 1) / 2
    r = oversample
    ox = r * (cx - cx / scale + vx * width + 0.5) - 0.5
    oy = r * (cy - cy / scale + vy * height + 0.5) - 0.5
    return np.array([[r / scale, 0.0, ox], [0.0, r / scale, oy]], dtype=np.float64)


# -- extend machinery -------------------------------------------------------------------------


class _Warper:
    """Warps the last real frame by camera view + accumulated flow in one resample."""

    def __init__(self, last: np.ndarray, velocity: np.ndarray | None) -> None:
        self.last = last
        self.velocity = velocity
        h, w = last.shape[:2]
        self.size = (w, h)
        if velocity is not None:
            xs = np.arange(w, dtype=np.float32)
            ys = np.arange(h, dtype=np.float32)
            self.grid = np.empty((h, w, 2), np.float32)
            self.grid[..., 0] = xs[None, :]
            self.grid[..., 1] = ys[:, None]
            self.upscaled = np.empty((h, w, 2), np.float32)
            self.maps = np.empty((h, w, 2), np.float32)

    def render(self, view: tuple[float, float, float], travelled: float) -> np.ndarray:
        w, h = self.size
        matrix = _view_matrix(view, w, h)
        if self.velocity is None or travelled == 0.0:
            if np.allclose(matrix, [[1, 0, 0], [0, 1, 0]], atol=1e-9):
                return self.last.copy()
            return cv2.warpAffine(
                self.last,
                matrix,
                (w, h),
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REFLECT,
            )
        # map(p) = q - D(q), q = camera(p). D is smooth, so build "offset - D(q)" on the low-res
        # flow grid (the velocity resampled at the camera-moved points), upscale it, and add the
        # exact full-resolution affine part: one remap of the last frame in the end.
        lh, lw = self.velocity.shape[:2]
        kx, ky = lw / w, lh / h
        inv = matrix[0, 0]
        low = np.array(
            [
                [inv, 0.0, 0.5 * inv * (1 - kx) + (matrix[0, 2] + 0.5) * kx - 0.5],
                [0.0, inv, 0.5 * inv * (1 - ky) + (matrix[1, 2] + 0.5) * ky - 0.5],
            ]
        )
        moved = cv2.warpAffine(
            self.velocity,
            low,
            (lw, lh),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        offset = np.array([matrix[0, 2], matrix[1, 2]], np.float32)
        moved *= -travelled
        moved += offset
        cv2.resize(moved, (w, h), dst=self.upscaled, interpolation=cv2.INTER_LINEAR)
        cv2.addWeighted(self.grid, inv, self.upscaled, 1.0, 0.0, dst=self.maps)
        return cv2.remap(self.last, self.maps, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


class _Drift:
    """Cross-dissolve towards reference images in order; ``u`` runs 0 → 1 over the segment."""

    def __init__(self, targets: list[np.ndarray]) -> None:
        self.targets = targets

    def apply(self, frame: np.ndarray, u: float) -> np.ndarray:
        k_count = len(self.targets)
        a = u * k_count
        weight = REFERENCE_WEIGHT * smoothstep(a)
        if weight <= 0.0:
            return frame
        k = min(int(a), k_count - 1)
        if k == 0:
            target = self.targets[0]
        else:
            f = smoothstep(2.0 * (a - k))
            target = cv2.addWeighted(self.targets[k - 1], 1.0 - f, self.targets[k], f, 0.0)
        return cv2.addWeighted(frame, 1.0 - weight, target, weight, 0.0)


class _Fade:
    """Fade to black/white at the end, and (generate only) in from black at the start."""

    def __init__(self, directions: Directions, num_frames: int, fps: Fraction, *, fade_in: bool) -> None:
        rate = float(fps)
        self.n = num_frames
        self.colour: Literal["black", "white"] | None = directions.fade_out
        # fade out over half the segment, between 1 and 3 seconds, ending on the last frame
        self.out_len = max(1, min(num_frames, round(min(max(num_frames / 2, rate), 3 * rate))))
        self.in_len = max(1, min(num_frames, round(rate))) if fade_in and directions.fade_in else 0

    def amount(self, index: int) -> tuple[float, float]:
        """(fraction faded to the end colour, fraction of fade-in black) at frame ``index``."""
        out = 0.0
        if self.colour is not None:
            out = smoothstep((index + 1 - (self.n - self.out_len)) / self.out_len)
        black = 1.0 - smoothstep(index / self.in_len) if self.in_len else 0.0
        return out, black

    def apply(self, frame: np.ndarray, index: int) -> np.ndarray:
        out, black = self.amount(index)
        if out <= 0.0 and black <= 0.0:
            return frame
        keep = (1.0 - out) * (1.0 - black)
        level = 255.0 * out * (1.0 - black) if self.colour == "white" else 0.0
        return cv2.addWeighted(frame, keep, frame, 0.0, level)


# -- generate machinery -----------------------------------------------------------------------


class _SlideShow:
    """Reference images in order, each with a slow pan/zoom, cross-faded into the next."""

    def __init__(self, images: Sequence[np.ndarray], job: GenerateJob, directions: Directions) -> None:
        self.size = (job.width, job.height)
        duration = job.num_frames / float(job.fps)
        self.slot = duration / len(images)
        self.xfade = min(1.0, self.slot / 3)
        self.span = self.slot + self.xfade  # how long each image's move lasts
        rng = job_rng(job.prompt, job.seed, "slideshow")
        camera = directions.camera()
        factor = directions.speed * directions.animation_speed
        self.paths: list[_ImagePath] = []
        self.sources: list[tuple[np.ndarray, float]] = []
        for pixels in images:
            path = _ImagePath(camera, self.span, rng, factor)
            oversample = min(path.max_zoom, 2.0)
            self.paths.append(path)
            source = _cover(pixels, job.width, job.height, oversample)
            self.sources.append((source, source.shape[1] / job.width))

    def _alpha(self, k: int, t: float) -> float:
        start = k * self.slot - self.xfade / 2
        fade_in = smoothstep((t - start) / self.xfade) if k > 0 else 1.0
        end = (k + 1) * self.slot - self.xfade / 2
        fade_out = 1.0 - smoothstep((t - end) / self.xfade) if k < len(self.paths) - 1 else 1.0
        return fade_in * fade_out

    def _draw(self, k: int, t: float) -> np.ndarray:
        w, h = self.size
        source, oversample = self.sources[k]
        local = t - (k * self.slot - self.xfade / 2)
        matrix = _view_matrix(self.paths[k].view(local), w, h, oversample)
        return cv2.warpAffine(
            source,
            matrix,
            (w, h),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT,
        )

    def __call__(self, t: float) -> np.ndarray:
        visible = [(k, a) for k in range(len(self.paths)) if (a := self._alpha(k, t)) > 1e-4]
        if not visible:  # cannot happen with contiguous slots; stay safe
            visible = [(len(self.paths) - 1, 1.0)]
        frame = self._draw(visible[0][0], t)
        if len(visible) == 1:
            return frame
        (_, a0), (k1, a1) = visible[0], visible[1]
        return cv2.addWeighted(frame, a0 / (a0 + a1), self._draw(k1, t), a1 / (a0 + a1), 0.0)


class _ImagePath:
    """The move over one image: the prompt's camera, or a seeded Ken Burns pan/zoom.

    Either way the view stays inside the picture (the zoom is raised enough to
    leave room for the pan), as far as a zoom of at most 2.5 allows.
    """

    def __init__(self, camera: CameraPath, span: float, rng: np.random.Generator, factor: float) -> None:
        self.camera = camera if camera.moves else None
        self.span = span
        # draw the Ken Burns numbers even when unused: image k's path must not depend on the prompt
        zooms = (1.04, 1.04 * math.exp(factor * math.log(1.14 / 1.04)))
        self.z0, self.z1 = zooms if rng.random() < 0.5 else zooms[::-1]
        self.f0 = rng.uniform(-0.8, 0.8, 2)
        self.f1 = self.f0 + (rng.uniform(-0.8, 0.8, 2) - self.f0) * min(factor, 1.0)
        if self.camera is not None:
            s_end, vx_end, vy_end = self.camera.view(span)
            self.centre = (vx_end / 2, vy_end / 2)
            room = min(max(abs(vx_end), abs(vy_end)), 0.5)
            self.base = min(2.5, 1.0 / ((1.0 - room) * min(1.0, s_end)))
            self.max_zoom = self.base * max(1.0, s_end)
        else:
            self.max_zoom = max(self.z0, self.z1)

    def view(self, t: float) -> tuple[float, float, float]:
        t = min(max(t, 0.0), self.span)
        if self.camera is not None:
            s, vx, vy = self.camera.view(t)
            return self.base * s, vx - self.centre[0], vy - self.centre[1]
        e = t / self.span if self.span > 0 else 0.0
        z = self.z0 * (self.z1 / self.z0) ** e
        f = self.f0 + (self.f1 - self.f0) * e
        margin = (1.0 - 1.0 / z) / 2
        return z, float(f[0] * margin), float(f[1] * margin)
