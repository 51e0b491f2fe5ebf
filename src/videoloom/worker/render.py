"""The render pipeline a worker runs off the event loop: source frames → engine → encoder.

Synchronous on purpose: it runs in a worker thread, streaming one frame at a
time (a 1080p minute never sits in memory). PyAV, OpenCV and numpy release
the GIL for the heavy work, so the API stays responsive.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from videoloom.core.errors import VideoloomError
from videoloom.core.geometry import output_size
from videoloom.engines.base import EditJob, Engine, ExtendJob, GenerateJob
from videoloom.media import Enhancer, Spritesheet, VideoWriter, fit_frame, iter_frames, probe, write_thumbnail

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

__all__ = ["JobCancelled", "RenderOutputs", "RenderPlan", "RenderResult", "render"]

CONTEXT_FRAMES = 3
THUMBNAIL_AT_SECONDS = 1.0
EDIT_MAX_GROWTH = 2  # slow motion at most doubles the frame count (see engines/_edits.py)

Mode = Literal["generate", "extend", "edit"]


class JobCancelled(VideoloomError):
    default_code = "cancelled"


@dataclass(frozen=True, kw_only=True)
class RenderPlan:
    mode: Mode
    width: int
    height: int
    """Output size."""
    fps: Fraction
    new_seconds: float
    prompt: str
    seed: int
    upscale: bool = False
    reference_images: Sequence[Image.Image] = field(default_factory=tuple)
    source: Path | None = None
    """For extends and edits: the source video file."""
    start_time: int | None = None
    """Extends: cut point in seconds; None keeps the whole source."""
    preset: str = "veryfast"
    crf: int = 20


@dataclass(frozen=True, kw_only=True)
class RenderOutputs:
    video: Path
    thumbnail: Path
    spritesheet: Path


@dataclass(frozen=True, kw_only=True)
class RenderResult:
    frame_count: int
    duration: float
    width: int
    height: int
    fps: Fraction


def render_size(plan: RenderPlan, engine: Engine) -> tuple[int, int]:
    """Where frames are made: the output size, or the engine's native size when upscaling."""
    short = min(plan.width, plan.height)
    if not plan.upscale or engine.native_short_side >= short:
        return plan.width, plan.height
    return output_size(engine.native_short_side, Fraction(plan.width, plan.height))


def _frames(
    plan: RenderPlan, engine: Engine, work: tuple[int, int], progress: Callable[[float], None]
) -> tuple[Iterator[np.ndarray], int]:
    """The output's frames at the working size, and how many are expected (for sampling)."""
    work_w, work_h = work
    new_frames = max(1, round(plan.new_seconds * plan.fps))
    job = GenerateJob(
        width=work_w,
        height=work_h,
        fps=plan.fps,
        num_frames=new_frames,
        prompt=plan.prompt,
        reference_images=plan.reference_images,
        seed=plan.seed,
    )
    if plan.mode == "generate":
        return engine.generate(job, progress), new_frames
    if plan.source is None:
        raise ValueError(f"a {plan.mode} needs a source video")
    source = plan.source
    info = probe(source)
    if plan.mode == "edit":
        edit = EditJob(
            width=work_w,
            height=work_h,
            fps=plan.fps,
            frame_count=info.frame_count,
            frames=lambda: (fit_frame(f, work_w, work_h) for f in iter_frames(source)),
            prompt=plan.prompt,
            seed=plan.seed,
        )
        return engine.edit(edit, progress), info.frame_count * EDIT_MAX_GROWTH

    keep = info.frame_count if plan.start_time is None else round(plan.start_time * plan.fps)
    keep = min(keep, info.frame_count)
    total = keep + new_frames

    def extended() -> Iterator[np.ndarray]:
        context: deque[np.ndarray] = deque(maxlen=CONTEXT_FRAMES)
        for index, frame in enumerate(iter_frames(source, stop=keep)):
            fitted = fit_frame(frame, work_w, work_h)
            context.append(fitted)
            yield fitted
            if index % 12 == 0:
                progress(index / total)
        if not context:  # start_time 0: continue from the very first frame
            context.append(fit_frame(next(iter_frames(source, stop=1)), work_w, work_h))
        extend_job = ExtendJob(**vars(job), context=tuple(context))
        yield from engine.extend(extend_job, lambda f: progress((keep + f * new_frames) / total))

    return extended(), total


def render(
    plan: RenderPlan,
    engine: Engine,
    *,
    outputs: RenderOutputs,
    progress: Callable[[float], None],
    cancelled: threading.Event,
) -> RenderResult:
    work_w, work_h = render_size(plan, engine)
    enhancer = (
        Enhancer(
            in_width=work_w, in_height=work_h, out_width=plan.width, out_height=plan.height, fps=plan.fps
        )
        if plan.upscale
        else None
    )
    frames, expected = _frames(plan, engine, (work_w, work_h), progress)
    spritesheet = Spritesheet(expected)
    thumbnail_index = int(THUMBNAIL_AT_SECONDS * plan.fps)
    thumbnail_frame: np.ndarray | None = None
    written = 0
    with VideoWriter(
        outputs.video, width=plan.width, height=plan.height, fps=plan.fps, preset=plan.preset, crf=plan.crf
    ) as writer:
        for frame in frames:
            if cancelled.is_set():
                raise JobCancelled("the task was cancelled or its lease was lost")
            out = enhancer.process(frame) if enhancer is not None else frame
            writer.write(out)
            spritesheet.offer(written, out)
            if written <= thumbnail_index:
                thumbnail_frame = out
            written += 1
    if thumbnail_frame is not None:
        write_thumbnail(thumbnail_frame, outputs.thumbnail)
        spritesheet.write(outputs.spritesheet)
    progress(1.0)
    return RenderResult(
        frame_count=written,
        duration=float(written / plan.fps),
        width=plan.width,
        height=plan.height,
        fps=plan.fps,
    )
