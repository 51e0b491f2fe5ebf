"""The render pipeline a worker runs off the event loop: source frames → engine → encoder.

Synchronous on purpose: it runs in a worker thread, streaming one frame at a
time (a 1080p minute never sits in memory). PyAV, OpenCV and numpy release
the GIL for the heavy work, so the API stays responsive.

An extend whose kept part needs no change (same size, no upscale, an H.264
source with a clean keyframe at or before the cut) is a *smart cut*
(``media.SmartCutWriter``): the source's packets up to that keyframe are copied,
only the frames from there to the cut are decoded and re-encoded, then the
engine's frames are appended. Its cost grows with the new seconds, not with the
source's length. Anything else re-encodes the kept part (``_frames``), passing
decoded YUV straight to the encoder when no resize or colour change is needed.
An extend of a source with sound then gets the kept part's sound back
(``media.add_audio``, a remux).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import av
import numpy as np

from videoloom.core.errors import JobCancelled
from videoloom.core.geometry import output_size
from videoloom.engines.base import EditJob, Engine, ExtendJob, GenerateJob, NewSound
from videoloom.media import (
    BT709,
    ColourTags,
    Enhancer,
    NoSmartCut,
    SmartCut,
    SmartCutWriter,
    SoundSegment,
    Spritesheet,
    VideoInfo,
    VideoWriter,
    add_audio,
    fit_frame,
    iter_frames,
    iter_video_frames,
    plan_smart_cut,
    probe,
    read_colour,
    write_thumbnail,
)

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["JobCancelled", "RenderOutputs", "RenderPlan", "RenderResult", "render"]

log = logging.getLogger("videoloom.worker.render")

CONTEXT_FRAMES = 3
THUMBNAIL_AT_SECONDS = 1.0
TILE_SOURCE_WIDTH = 320
RENDER_NICENESS = 10
"""Renders run at this nice value (Linux, per thread; the encoder's and decoders' own threads
inherit it), so the API's event loop thread gets the CPU first and status calls stay fast
while videos encode. Rendering only slows down while requests actually need the CPU."""
KEYFRAME_INTERVAL_SECONDS = 2
"""Outputs get a keyframe at least every 2 s: seeking stays quick and a later
smart-cut extend of this output re-encodes at most 2 s of it."""
EDIT_MAX_GROWTH = 2  # slow motion at most doubles the frame count (see engines/_edits.py)

Mode = Literal["generate", "extend", "edit"]


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
    smart_cut: bool = True
    """Extends: copy the kept part's packets when possible; False always re-encodes (benchmarks)."""


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
    report: dict[str, Any] = field(default_factory=dict)
    """What the engine asked to record with the task (``GenerateJob.report``)."""


def render_size(plan: RenderPlan, engine: Engine) -> tuple[int, int]:
    """Where frames are made: the output size, or the engine's native size when upscaling."""
    short = min(plan.width, plan.height)
    if not plan.upscale or engine.native_short_side >= short:
        return plan.width, plan.height
    return output_size(engine.native_short_side, Fraction(plan.width, plan.height))


Frame = np.ndarray | av.VideoFrame
"""RGB ``uint8`` at the working size, or a decoded yuv420p frame already at the output size."""


def _new_frames(plan: RenderPlan) -> int:
    return max(1, round(plan.new_seconds * plan.fps))


def _keep(plan: RenderPlan, frame_count: int) -> int:
    """How many source frames an extend keeps."""
    keep = frame_count if plan.start_time is None else round(plan.start_time * plan.fps)
    return min(keep, frame_count)


def _job(plan: RenderPlan, work: tuple[int, int], report: dict[str, Any], sound: NewSound) -> GenerateJob:
    work_w, work_h = work
    return GenerateJob(
        report=report,
        sound=sound,
        width=work_w,
        height=work_h,
        fps=plan.fps,
        num_frames=_new_frames(plan),
        prompt=plan.prompt,
        reference_images=plan.reference_images,
        seed=plan.seed,
    )


def _frames(
    plan: RenderPlan,
    engine: Engine,
    work: tuple[int, int],
    progress: Callable[[float], None],
    report: dict[str, Any],
    sound: NewSound,
    info: VideoInfo | None,
) -> tuple[Iterator[Frame], int, ColourTags]:
    """The output's frames (re-encoding any kept part), how many are expected (for sampling),
    and the colour description to write."""
    work_w, work_h = work
    new_frames = _new_frames(plan)
    job = _job(plan, work, report, sound)
    if plan.mode == "generate":
        return engine.generate(job, progress), new_frames, BT709
    if plan.source is None or info is None:
        raise ValueError(f"a {plan.mode} needs a source video")
    source = plan.source
    if plan.mode == "edit":
        edit = EditJob(
            width=work_w,
            height=work_h,
            fps=plan.fps,
            frame_count=info.frame_count,
            frames=lambda: (fit_frame(f, work_w, work_h) for f in iter_frames(source)),
            prompt=plan.prompt,
            seed=plan.seed,
            report=report,
        )
        return engine.edit(edit, progress), info.frame_count * EDIT_MAX_GROWTH, BT709

    keep = _keep(plan, info.frame_count)
    total = keep + new_frames
    # Decoded YUV goes to the encoder untouched when nothing about the picture changes; the
    # output then keeps the source's colour description (and new frames are made in it).
    same_picture = not plan.upscale and (info.width, info.height) == work == (plan.width, plan.height)
    colour = BT709
    if same_picture:
        source_colour = read_colour(source)
        if source_colour.matrix is not None:
            colour = source_colour

    def extended() -> Iterator[Frame]:
        context: deque[np.ndarray] = deque(maxlen=CONTEXT_FRAMES)
        for index, decoded in enumerate(iter_video_frames(source, stop=keep)):
            if same_picture and _passes_through(decoded, colour):
                if index >= keep - CONTEXT_FRAMES:
                    context.append(decoded.to_ndarray(format="rgb24"))
                yield decoded
            else:
                fitted = fit_frame(decoded.to_ndarray(format="rgb24"), work_w, work_h)
                context.append(fitted)
                yield fitted
            if index % 12 == 0:
                progress(index / total)
        if not context:  # start_time 0: continue from the very first frame
            context.append(fit_frame(next(iter_frames(source, stop=1)), work_w, work_h))
        extend_job = ExtendJob(**vars(job), context=tuple(context), source=source, keep_frames=keep)
        yield from engine.extend(extend_job, lambda f: progress((keep + f * new_frames) / total))

    return extended(), total, colour


def _passes_through(frame: av.VideoFrame, colour: ColourTags) -> bool:
    """Whether a decoded frame is yuv420p in ``colour`` (so the writer can take it as it is)."""
    limited = (0, 1)
    return (
        frame.format.name == "yuv420p"
        and frame.colorspace == colour.colorspace
        and (frame.color_range in limited) == (colour.range in limited)
    )


class _Writer(Protocol):
    def write(self, frame: np.ndarray) -> None: ...

    def write_frame(self, frame: av.VideoFrame) -> None: ...


def _rgb(frame: Frame) -> np.ndarray:
    return frame if isinstance(frame, np.ndarray) else frame.to_ndarray(format="rgb24")


def _tile(frame: Frame) -> np.ndarray:
    """A small RGB copy for the spritesheet (which shrinks it to 160 px): converting a whole
    1080p frame to RGB only to shrink it cost ~10 ms; scaling while converting, ~1 ms."""
    if isinstance(frame, np.ndarray) or frame.width <= TILE_SOURCE_WIDTH:
        return _rgb(frame)
    height = max(2, round(frame.height * TILE_SOURCE_WIDTH / frame.width))
    small = frame.reformat(width=TILE_SOURCE_WIDTH, height=height, format="rgb24", interpolation="AREA")
    return small.to_ndarray()


class _Sink:
    """Where output frames go: enhancer, encoder, thumbnail and spritesheet, in output order.

    Only the frames the thumbnail and the spritesheet keep are converted to RGB.
    """

    def __init__(
        self,
        writer: _Writer,
        *,
        enhancer: Enhancer | None,
        expected: int,
        fps: Fraction,
        cancelled: threading.Event,
    ) -> None:
        self.writer = writer
        self.enhancer = enhancer
        self.spritesheet = Spritesheet(expected)
        self.thumbnail_index = int(THUMBNAIL_AT_SECONDS * fps)
        self.thumbnail: Frame | None = None
        self.written = 0
        self._cancelled = cancelled

    def put(self, frame: Frame) -> None:
        if self._cancelled.is_set():
            raise JobCancelled("the task was cancelled or its lease was lost")
        out: Frame
        if isinstance(frame, np.ndarray):
            if self.enhancer is not None:
                out = self.enhancer.process_frame(frame)
                self.writer.write_frame(out)
            else:
                out = frame
                self.writer.write(frame)
        else:
            out = frame
            self.writer.write_frame(frame)
        self.look(self.written, out)
        self.written += 1

    def copied(self, count: int) -> None:
        """``count`` frames went into the output without passing here (a smart cut's copy)."""
        self.written += count

    def look(self, index: int, frame: Frame) -> None:
        """Let the thumbnail and the spritesheet see output frame ``index``."""
        if self.spritesheet.wants(index):
            self.spritesheet.offer(index, _tile(frame))
        if index <= self.thumbnail_index:
            self.thumbnail = frame

    def finish(self, outputs: RenderOutputs) -> None:
        if self.thumbnail is not None:
            write_thumbnail(_rgb(self.thumbnail), outputs.thumbnail)
            self.spritesheet.write(outputs.spritesheet)


def _plan_smart_cut(plan: RenderPlan, work: tuple[int, int], info: VideoInfo | None) -> SmartCut | None:
    """The smart cut for an extend, or None (with the reason logged) to re-encode everything."""
    if plan.mode != "extend" or plan.source is None or info is None or not plan.smart_cut:
        return None
    if plan.upscale:
        log.info("full re-encode: upscaling changes the kept part")
        return None
    if work != (plan.width, plan.height):
        log.info("full re-encode: the working size %s differs from the output's", work)
        return None
    keep = _keep(plan, info.frame_count)
    try:
        cut = plan_smart_cut(plan.source, keep=keep, width=plan.width, height=plan.height, fps=plan.fps)
    except NoSmartCut as exc:
        log.info("full re-encode: %s", exc)
        return None
    log.info("smart cut: copying frames 0-%d, re-encoding %d-%d", cut.keyframe - 1, cut.keyframe, keep - 1)
    return cut


def _render_smart_cut(
    plan: RenderPlan,
    engine: Engine,
    cut: SmartCut,
    *,
    outputs: RenderOutputs,
    progress: Callable[[float], None],
    cancelled: threading.Event,
    gop_size: int,
    report: dict[str, Any],
    sound: NewSound,
) -> int:
    """Copy ``[0, K)``, re-encode ``[K, keep)`` and the engine's frames; returns the frame count."""
    new_frames = _new_frames(plan)
    keep, keyframe = cut.keep, cut.keyframe
    work_units = (keep - keyframe) + new_frames  # frames that cost an encode
    context_start = max(0, keep - CONTEXT_FRAMES)
    context: deque[np.ndarray] = deque(maxlen=CONTEXT_FRAMES)
    with SmartCutWriter(outputs.video, cut, preset=plan.preset, crf=plan.crf, gop_size=gop_size) as writer:
        sink = _Sink(writer, enhancer=None, expected=keep + new_frames, fps=plan.fps, cancelled=cancelled)
        # The copied frames are not decoded: spritesheet tiles there show the keyframe at or
        # before their position (a keyframe decodes alone); the thumbnail and any context
        # frames there are decoded exactly, from the keyframe before them.
        tiles: dict[int, list[int]] = {}
        for index in range(keyframe):
            if sink.spritesheet.wants(index):
                tiles.setdefault(cut.keyframe_at_or_before(index), []).append(index)
        exact = set(range(context_start, keyframe))
        if sink.thumbnail_index < keyframe:
            exact.add(sink.thumbnail_index)

        def on_preview(index: int, frame: av.VideoFrame) -> None:
            tile = None
            for position in tiles.get(index, ()):
                tile = tile if tile is not None else _tile(frame)
                sink.spritesheet.offer(position, tile)
            if index == sink.thumbnail_index:
                sink.thumbnail = frame
            if index >= context_start:
                context.append(frame.to_ndarray(format="rgb24"))

        writer.copy_prefix(previews=set(tiles) | exact, on_preview=on_preview)
        sink.copied(keyframe)
        for done, decoded in enumerate(writer.source_frames()):
            if sink.written >= context_start:
                context.append(decoded.to_ndarray(format="rgb24"))
            sink.put(decoded)
            if done % 12 == 0:
                progress(done / work_units)
        job = ExtendJob(
            **vars(_job(plan, (cut.width, cut.height), report, sound)),
            context=tuple(context),
            source=plan.source,
            keep_frames=keep,
        )
        reencoded = keep - keyframe
        for frame in engine.extend(job, lambda f: progress((reencoded + f * new_frames) / work_units)):
            sink.put(frame)
    sink.finish(outputs)
    return sink.written


def _add_sound(
    plan: RenderPlan, new: NewSound, video: Path, frame_count: int, info: VideoInfo | None
) -> None:
    """The output's sound, a remux after the pictures: an extend keeps its source's sound up to
    the cut; the new frames get the engine's sound where it has some (a relay's upstream
    video), else they are silent. Edits are silent (their timing changes)."""
    if plan.mode == "edit":
        return
    segments = []
    kept = 0.0
    if plan.mode == "extend" and plan.source is not None and info is not None:
        kept = float(_keep(plan, info.frame_count) / plan.fps)
        segments.append(SoundSegment(plan.source, end=kept))
    if new.path is not None:
        length = float(frame_count / plan.fps) - kept
        segments.append(SoundSegment(new.path, start=new.offset, end=new.offset + length, at=kept))
    with_sound = video.with_name(video.stem + "-sound.mp4")
    if segments and add_audio(video, with_sound, segments):
        os.replace(with_sound, video)


def _yield_cpu_to_the_api() -> None:
    """Lower this render thread's CPU priority (once; unprivileged, so it cannot be raised back)."""
    if sys.platform != "linux" or threading.current_thread() is threading.main_thread():
        return  # the main thread is a CLI or a test: leave it alone
    thread = threading.get_native_id()
    try:
        if os.getpriority(os.PRIO_PROCESS, thread) < RENDER_NICENESS:
            os.setpriority(os.PRIO_PROCESS, thread, RENDER_NICENESS)
    except OSError:
        log.debug("could not lower the render thread's priority", exc_info=True)


def render(
    plan: RenderPlan,
    engine: Engine,
    *,
    outputs: RenderOutputs,
    progress: Callable[[float], None],
    cancelled: threading.Event,
) -> RenderResult:
    _yield_cpu_to_the_api()
    report: dict[str, Any] = {}
    sound = NewSound()
    reported = progress

    def progress(fraction: float) -> None:
        # Engines call this between steps: a cancelled task stops there, not only
        # when its next frame is written.
        if cancelled.is_set():
            raise JobCancelled("the task was cancelled or its lease was lost")
        reported(fraction)

    work_w, work_h = render_size(plan, engine)
    gop_size = max(1, round(KEYFRAME_INTERVAL_SECONDS * plan.fps))
    # Probed once: the smart cut, the kept part and its sound all count the source's frames.
    info = probe(plan.source) if plan.mode != "generate" and plan.source is not None else None
    cut = _plan_smart_cut(plan, (work_w, work_h), info)
    if cut is not None:
        written = _render_smart_cut(
            plan,
            engine,
            cut,
            outputs=outputs,
            progress=progress,
            cancelled=cancelled,
            gop_size=gop_size,
            report=report,
            sound=sound,
        )
    else:
        enhancer = (
            Enhancer(
                in_width=work_w, in_height=work_h, out_width=plan.width, out_height=plan.height, fps=plan.fps
            )
            if plan.upscale
            else None
        )
        frames, expected, colour = _frames(plan, engine, (work_w, work_h), progress, report, sound, info)
        with VideoWriter(
            outputs.video,
            width=plan.width,
            height=plan.height,
            fps=plan.fps,
            preset=plan.preset,
            crf=plan.crf,
            gop_size=gop_size,
            colour=colour,
        ) as writer:
            sink = _Sink(writer, enhancer=enhancer, expected=expected, fps=plan.fps, cancelled=cancelled)
            for frame in frames:
                sink.put(frame)
        sink.finish(outputs)
        written = sink.written
    _add_sound(plan, sound, outputs.video, written, info)
    reported(1.0)
    return RenderResult(
        frame_count=written,
        duration=float(written / plan.fps),
        width=plan.width,
        height=plan.height,
        fps=plan.fps,
        report=report,
    )
