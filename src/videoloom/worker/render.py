"""The render pipeline a worker runs off the event loop: source frames → engine → encoder.

Synchronous on purpose: it runs in a worker thread, streaming one frame at a
time (a 1080p minute never sits in memory). PyAV, OpenCV and numpy release
the GIL for the heavy work, so the API stays responsive.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from videoloom.core.errors import VideoloomError
from videoloom.core.geometry import output_size
from videoloom.engines.base import Engine, ExtendJob, GenerateJob
from videoloom.media import Enhancer, VideoWriter, fit_frame, iter_frames, probe, write_thumbnail

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

__all__ = ["JobCancelled", "RenderPlan", "RenderResult", "render"]

CONTEXT_FRAMES = 3
THUMBNAIL_AT_SECONDS = 1.0


class JobCancelled(VideoloomError):
    default_code = "cancelled"


@dataclass(frozen=True, kw_only=True)
class RenderPlan:
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
    """Set for extends: the source video file."""
    start_time: int | None = None
    """Cut point in seconds; None keeps the whole source."""
    preset: str = "veryfast"
    crf: int = 20


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


def render(
    plan: RenderPlan,
    engine: Engine,
    *,
    video_out: Path,
    thumbnail_out: Path,
    progress: Callable[[float], None],
    cancelled: threading.Event,
) -> RenderResult:
    work_w, work_h = render_size(plan, engine)
    enhancer = (
        Enhancer(
            in_width=work_w,
            in_height=work_h,
            out_width=plan.width,
            out_height=plan.height,
            fps=plan.fps,
        )
        if plan.upscale
        else None
    )
    new_frames = max(1, round(plan.new_seconds * plan.fps))
    thumbnail_index = int(THUMBNAIL_AT_SECONDS * plan.fps)
    written = 0
    thumbnail_frame: np.ndarray | None = None

    with VideoWriter(
        video_out,
        width=plan.width,
        height=plan.height,
        fps=plan.fps,
        preset=plan.preset,
        crf=plan.crf,
    ) as writer:

        def emit(frame: np.ndarray) -> None:
            nonlocal written, thumbnail_frame
            if cancelled.is_set():
                raise JobCancelled("the task was cancelled or its lease was lost")
            out = enhancer.process(frame) if enhancer is not None else frame
            writer.write(out)
            if written <= thumbnail_index:
                thumbnail_frame = out
            written += 1

        job = GenerateJob(
            width=work_w,
            height=work_h,
            fps=plan.fps,
            num_frames=new_frames,
            prompt=plan.prompt,
            reference_images=plan.reference_images,
            seed=plan.seed,
        )
        if plan.source is None:
            for frame in engine.generate(job, progress):
                emit(frame)
        else:
            info = probe(plan.source)
            keep = info.frame_count if plan.start_time is None else round(plan.start_time * plan.fps)
            keep = min(keep, info.frame_count)
            total = keep + new_frames
            context: deque[np.ndarray] = deque(maxlen=CONTEXT_FRAMES)
            for frame in iter_frames(plan.source, stop=keep):
                fitted = fit_frame(frame, work_w, work_h)
                context.append(fitted)
                emit(fitted)
                if written % 12 == 0:
                    progress(written / total)
            if not context:  # start_time 0: continue from the very first frame
                first = next(iter_frames(plan.source, stop=1))
                context.append(fit_frame(first, work_w, work_h))
            extend_job = ExtendJob(**vars(job), context=tuple(context))
            for frame in engine.extend(extend_job, lambda f: progress((keep + f * new_frames) / total)):
                emit(frame)

    if thumbnail_frame is not None:
        write_thumbnail(thumbnail_frame, thumbnail_out)
    progress(1.0)
    return RenderResult(
        frame_count=written,
        duration=float(written / plan.fps),
        width=plan.width,
        height=plan.height,
        fps=plan.fps,
    )
