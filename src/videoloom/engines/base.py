"""The engine interface: what every generator (CPU motion, diffusion, relay) implements.

An engine turns a job into a stream of RGB frames. It never touches files, the
database or HTTP: the worker hands it decoded frames and images, and the media
layer encodes what it yields. Frames are ``numpy.ndarray`` of shape
``(height, width, 3)``, dtype ``uint8``, RGB.

Usage::

    engine = MotionEngine()
    for frame in engine.extend(job, progress=lambda fraction: ...):
        writer.write(frame)
    engine.close()
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

__all__ = ["EditJob", "Engine", "ExtendJob", "GenerateJob", "NewSound", "ProgressCallback"]

ProgressCallback = Callable[[float], None]
"""Called with the fraction of the job done, 0.0 to 1.0, as often as the engine likes.

It raises ``core.errors.JobCancelled`` once the task is cancelled or its lease is
lost: engines that work in long steps call it between steps and let that propagate."""


@dataclass(kw_only=True)
class NewSound:
    """Where an engine whose frames come with sound (a relay's upstream video) leaves it.

    ``path``: a media file whose first audio track goes with the yielded frames, the first
    of them at ``offset`` seconds into the file (after its first video frame). The file must
    exist until the engine is closed: the render pipeline muxes it after the last frame.
    Engines that make pictures only leave ``path`` None: the new frames are silent.
    """

    path: Path | None = None
    offset: float = 0.0


@dataclass(frozen=True, kw_only=True)
class GenerateJob:
    """Make ``num_frames`` new frames of ``width``×``height`` from a prompt and optional images."""

    width: int
    height: int
    fps: Fraction
    num_frames: int
    prompt: str
    reference_images: Sequence[Image.Image] = field(default_factory=tuple)
    seed: int = 0
    report: dict[str, Any] = field(default_factory=dict)
    """The engine may fill this with what should be recorded on the task (JSON values),
    e.g. which upstream channel served it; the worker stores it as the output's ``engine``."""
    sound: NewSound = field(default_factory=NewSound)
    """The new frames' sound, where the engine has some (``NewSound``)."""


@dataclass(frozen=True, kw_only=True)
class ExtendJob(GenerateJob):
    """Continue a video: ``context`` holds the last frames before the cut, oldest first.

    Context frames are already at ``width``×``height``. The first yielded frame
    is the one right after the last context frame. Engines that need more of the
    kept part than ``context`` (a conditioning clip, an upstream upload) read it
    from ``source``: its first ``keep_frames`` frames are what the output keeps.
    """

    context: Sequence[np.ndarray] = field(default_factory=tuple)
    source: Path | None = None
    """The source video file (local, seekable), or None when only ``context`` is known."""
    keep_frames: int = 0
    """How many of the source's frames come before the cut (the new frames follow them)."""


@dataclass(frozen=True, kw_only=True)
class EditJob:
    """Re-render a whole video as the prompt asks (colour, speed, crop, stabilise, …).

    ``frames`` opens a fresh pass over the source's ``frame_count`` frames (already
    at ``width``×``height``) each time it is called, so an edit may read the
    video more than once (e.g. to measure camera shake, then to correct it).
    """

    width: int
    height: int
    fps: Fraction
    frame_count: int
    frames: Callable[[], Iterator[np.ndarray]]
    prompt: str
    seed: int = 0
    report: dict[str, Any] = field(default_factory=dict)


class Engine(Protocol):
    """A generator of frames. Implementations are used from one worker thread at a time."""

    name: str
    """Engine kind as written in the models file (``engine = "motion"``)."""

    native_short_side: int
    """Short side, in pixels, of what the engine renders best; ``upscale`` renders here, then enhances."""

    def generate(self, job: GenerateJob, progress: ProgressCallback) -> Iterator[np.ndarray]: ...

    def extend(self, job: ExtendJob, progress: ProgressCallback) -> Iterator[np.ndarray]: ...

    def edit(self, job: EditJob, progress: ProgressCallback) -> Iterator[np.ndarray]: ...

    def edit_operations(self, prompt: str) -> list[str]:
        """Names of the edits this engine would apply for ``prompt``; empty means it can do nothing."""
        ...

    def close(self) -> None: ...
