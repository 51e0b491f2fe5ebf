"""``ReplayEngine``: an engine that "generates" the fixed frames of a raw rgb24 file.

The media benchmarks put it where a real engine goes, so that Videoloom's
render pipeline and the ``ffmpeg`` CLI are handed exactly the same new frames
and the comparison measures the media pipeline alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from bench.common import read_raw_frames
from videoloom.engines.base import EditJob, ExtendJob, GenerateJob, ProgressCallback


class ReplayEngine:
    name = "replay"
    native_short_side = 720

    def __init__(self, frames: Path) -> None:
        self.frames = frames

    def _replay(self, job: GenerateJob, progress: ProgressCallback) -> Iterator[np.ndarray]:
        frames = read_raw_frames(self.frames, job.width, job.height)
        for i in range(job.num_frames):
            progress(i / job.num_frames)
            frame = next(frames, None)
            if frame is None:
                raise ValueError(f"{self.frames} holds fewer than {job.num_frames} frames")
            yield frame

    def generate(self, job: GenerateJob, progress: ProgressCallback) -> Iterator[np.ndarray]:
        return self._replay(job, progress)

    def extend(self, job: ExtendJob, progress: ProgressCallback) -> Iterator[np.ndarray]:
        return self._replay(job, progress)

    def edit(self, job: EditJob, progress: ProgressCallback) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def edit_operations(self, prompt: str) -> list[str]:
        return []

    def close(self) -> None:
        pass
